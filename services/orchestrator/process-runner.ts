// One process of prestamos-cdc: any of capture, sync and the reconciler's HTTP API, over one database
// connection pool and one metrics registry. Every process serves /healthz, /readyz and /metrics; the
// reconciler's API routes are mounted when it is part of the process. stop() drains in order.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Config } from '../runtime/config.ts';
import type { Logger } from '../runtime/logger.ts';
import { createMetrics, initialiseProcessSeries, type Metrics } from '../runtime/metrics.ts';
import { CAPTURED_TABLES } from '../domain/change-event.ts';
import { topicFor } from '../../connectors/kafka/envelope.ts';
import { errorMessage } from '../runtime/errors.ts';
import { BackgroundTasks } from '../runtime/background-tasks.ts';
import { openDatabase, type Database } from '../../connectors/postgres/database.ts';
import { createHttpApp, type RouteRegistrar, type ReadinessCheck } from '../reconciler/http-app.ts';
import { healthRoutes } from '../reconciler/routes/health.ts';
import { startPipeline, type PipelineMode, type RunningPipeline } from './pipeline.ts';

export interface ProcessOptions {
  config: Config;
  databaseUrl: string;
  logger: Logger;
  mode: PipelineMode;
  capture: boolean;
  sync: boolean;
  /** API routes of the reconciler (empty for a capture-only or sync-only process) */
  apiRoutes: (deps: { database: Database; databaseUrl: string; pipeline: RunningPipeline | undefined; metrics: Metrics }) => RouteRegistrar[];
  applicationName: string;
}

export interface RunningProcess {
  database: Database;
  metrics: Metrics;
  pipeline: RunningPipeline | undefined;
  /** the port the HTTP server listens on */
  port: number;
  url: string;
  draining: boolean;
  stop(): Promise<void>;
}

export async function startProcess(options: ProcessOptions): Promise<RunningProcess> {
  const metrics = createMetrics();
  initialiseProcessSeries(metrics, {
    capture: options.capture,
    sync: options.sync,
    slot: options.config.slotName,
    tableTopics: options.mode === 'kafka' ? CAPTURED_TABLES.map((t) => topicFor(options.config.topicPrefix, t)) : undefined,
  });
  const database = await openDatabase({ url: options.databaseUrl, poolMax: options.config.pgPoolMax, applicationName: options.applicationName, logger: options.logger });
  let pipeline: RunningPipeline | undefined;
  if (options.capture || options.sync) {
    pipeline = await startPipeline({ config: options.config, databaseUrl: options.databaseUrl, database, logger: options.logger, metrics, mode: options.mode, capture: options.capture, sync: options.sync });
  }
  let draining = false;
  const readiness = async (): Promise<Record<string, ReadinessCheck>> => {
    const checks: Record<string, ReadinessCheck> = {};
    if (draining) checks.process = { ok: false, detail: 'shutting down' };
    if (pipeline?.capture) {
      const s = pipeline.capture.getStatus();
      const ok = (s.state === 'streaming' || s.state === 'waiting_for_start') && !s.publishFailing;
      checks.capture = {
        ok,
        detail: s.publishFailing ? `publishing fails (${s.lastPublishError}); ${s.bufferedEvents} changes held, slot retains WAL` : s.state === 'waiting_for_start' ? 'waiting for POST /prestamos/migration/start' : s.state,
      };
      // a renamed or dropped captured table: the stream goes on for the others, but this one is lost
      if (s.capturedTableAlerts.length > 0) checks.capturedTables = { ok: false, detail: s.capturedTableAlerts.map((a) => a.detail).join('; ') };
    }
    if (pipeline?.sync) {
      const s = pipeline.sync.getStatus();
      checks.sync = {
        ok: s.state !== 'failed' && s.state !== 'stopped',
        detail: s.state === 'failed' ? `failed: ${s.lastError}` : s.paused ? `paused: ${s.pausedReason ?? ''}` : s.throttled ? `throttled: ${s.throttleReason}` : s.state,
      };
    }
    return checks;
  };
  const tasks = new BackgroundTasks();
  const ctx = { database, pool: database.pool, logger: options.logger, metrics, readiness, tasks };
  const app = createHttpApp(ctx, [healthRoutes, ...options.apiRoutes({ database, databaseUrl: options.databaseUrl, pipeline, metrics })]);
  const server = http.createServer(app);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.config.http.port, options.config.http.host, () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  const host = options.config.http.host === '0.0.0.0' ? '127.0.0.1' : options.config.http.host;
  options.logger.info({ port, capture: options.capture, sync: options.sync, mode: options.mode }, 'HTTP server listening');

  let stopping: Promise<void> | undefined;
  const handle: RunningProcess = {
    database,
    metrics,
    pipeline,
    port,
    url: `http://${host}:${port}`,
    get draining() {
      return draining;
    },
    stop() {
      stopping ??= (async () => {
        draining = true;
        const closed = new Promise<void>((resolve) => server.close(() => resolve()));
        server.closeIdleConnections?.();
        for (const f of await tasks.stopAll()) options.logger.error({ err: errorMessage(f.error), task: f.name }, 'background task stop failed');
        try {
          await pipeline?.stop(options.config.shutdownTimeoutMs);
        } catch (err) {
          options.logger.error({ err: errorMessage(err) }, 'pipeline stop failed');
        }
        server.closeAllConnections?.();
        await closed;
        await database.close();
        options.logger.info('stopped');
      })();
      return stopping;
    },
  };
  return handle;
}
