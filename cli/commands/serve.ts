// capture | sync | reconciler | run: start those parts of prestamos-cdc in this process and serve
// until SIGTERM/SIGINT, which drains them (bounded by SHUTDOWN_TIMEOUT_MS).
import { requireDatabaseUrl } from '../../services/runtime/config.ts';
import { startProcess, type RunningProcess } from '../../services/orchestrator/process-runner.ts';
import type { RunningPipeline } from '../../services/orchestrator/pipeline.ts';
import { reconcilerRoutes } from '../../services/reconciler/routes/index.ts';
import type { Command, CommandContext } from './types.ts';
import { createLoanWriter } from '../../services/sync/loan-writer.ts';
import type { Database } from '../../connectors/postgres/database.ts';
import type { Metrics } from '../../services/runtime/metrics.ts';

/** Waits for SIGTERM or SIGINT, then stops the process gracefully; a second signal exits at once. */
export async function serveUntilSignal(ctx: CommandContext, handle: RunningProcess): Promise<number> {
  return new Promise<number>((resolve) => {
    let stopping = false;
    const onSignal = (signal: NodeJS.Signals) => {
      if (stopping) {
        ctx.logger.warn({ signal }, 'second signal: exiting without draining');
        process.exit(130);
      }
      stopping = true;
      ctx.logger.info({ signal }, 'draining: finishing the batch in progress, committing, acknowledging');
      const force = setTimeout(() => {
        ctx.logger.error('drain took longer than SHUTDOWN_TIMEOUT_MS; exiting');
        process.exit(1);
      }, ctx.config.shutdownTimeoutMs + 5000);
      force.unref();
      handle.stop().then(
        () => resolve(0),
        (err) => {
          ctx.logger.error({ err }, 'stop failed');
          resolve(1);
        },
      );
    };
    process.on('SIGTERM', onSignal);
    process.on('SIGINT', onSignal);
  });
}

export function apiRoutesFor(ctx: CommandContext, withApi: boolean) {
  return ({ database, databaseUrl, pipeline, metrics }: { database: Database; databaseUrl: string; pipeline: RunningPipeline | undefined; metrics: Metrics }) =>
    withApi
      ? reconcilerRoutes({ config: ctx.config, databaseUrl, logger: ctx.logger, pipeline, loans: createLoanWriter({ pool: database.pool, logger: ctx.logger, metrics }) })
      : [];
}

function serveCommand(summary: string, parts: { capture: boolean; sync: boolean; api: boolean }): Command {
  return {
    summary,
    options: { inline: { type: 'boolean', default: false } },
    async run(ctx) {
      const databaseUrl = requireDatabaseUrl(ctx.config);
      const inline = Boolean(ctx.values.inline) || (parts.capture && parts.sync && !ctx.config.kafka.brokers);
      if (inline && !(parts.capture && parts.sync)) {
        ctx.out('--inline needs capture and sync in one process: use `run --inline`');
        return 2;
      }
      const handle = await startProcess({
        config: ctx.config,
        databaseUrl,
        logger: ctx.logger,
        mode: inline ? 'inline' : 'kafka',
        capture: parts.capture,
        sync: parts.sync,
        apiRoutes: apiRoutesFor(ctx, parts.api),
        applicationName: `prestamos-cdc ${[parts.capture && 'capture', parts.sync && 'sync', parts.api && 'reconciler'].filter(Boolean).join('+')}`,
      });
      ctx.out(`prestamos-cdc listening on ${handle.url} (${inline ? 'inline' : 'kafka'} mode)`);
      return serveUntilSignal(ctx, handle);
    },
  };
}

export const runCommand = serveCommand('capture + sync + reconciler API in one process (--inline: no Kafka; default when KAFKA_BROKERS is unset)', { capture: true, sync: true, api: true });
export const captureCommand = serveCommand('the capture: replication slot → Kafka (plus /metrics, /healthz, /readyz)', { capture: true, sync: false, api: false });
export const syncCommand = serveCommand('the sync consumer: Kafka → shadow tables and ledger (plus /metrics, /healthz, /readyz)', { capture: false, sync: true, api: false });
export const reconcilerCommand = serveCommand('the reconciler HTTP API (verify, consistency, progress, rollback, cutover, metrics)', { capture: false, sync: false, api: true });
