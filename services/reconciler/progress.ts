// GET /prestamos/migration/progress and GET /prestamos/migration/metrics: where the migration stands,
// how fast it moves, how far behind it is, how many records failed, whether it is paused and why.
// Counts are exact (count(*) over the tables); rates come from what the sync processes report
// (cumulative changes applied), sampled by this service over the last minute.
import { isFinal } from '../domain/snapshot-request.ts';
import os from 'node:os';
import type pg from 'pg';
import { readControl, readPipeline, type ControlState, type PipelineRecord } from '../runtime/control-plane.ts';
import { slotStatus } from '../../connectors/postgres/replication-setup.ts';
import { findCapturedTableProblems, describeCapturedTableProblem } from '../../connectors/postgres/captured-tables.ts';
import { CAPTURED_TABLES, type CapturedTable } from '../domain/change-event.ts';
import type { LocalPipeline } from '../runtime/local-pipeline.ts';
import { readLiveState, type LiveState } from './live-state.ts';

export type Phase = 'not started' | 'snapshotting' | 'streaming' | 'cut over';

export interface TableProgress {
  table: 'Prestamo' | 'PagoPrestamo' | 'Accion' | 'Multa';
  /** rows in the legacy table */
  total: number;
  /** rows the new side holds: rows of the new table (loans, payments), or rows the sync holds (shares, fines) */
  migrated: number;
  /** rows of rolled-back loans (not expected in the new tables) */
  rolledBack: number;
  /** open failed records of the table */
  failed: number;
  remaining: number;
  percent: number;
  /** the captured table renamed, dropped or not published (its changes are not captured); null when fine */
  problem: string | null;
}

/** Cumulative "applied" counters of the sync processes, sampled on every call, kept for five minutes. */
export class RateSampler {
  private samples: { at: number; applied: Map<string, number> }[] = [];

  record(live: LiveState, now = Date.now()): { rowsPerSecond: number | null; basis: string } {
    const applied = new Map(live.syncs.map((s) => [s.instance, s.status.applied]));
    this.samples.push({ at: now, applied });
    this.samples = this.samples.filter((s) => now - s.at <= 300_000);
    // the oldest sample within the last minute that is at least 2 s old
    const base = this.samples.find((s) => now - s.at <= 60_000 && now - s.at >= 2_000);
    if (base) {
      let delta = 0;
      for (const [instance, n] of applied) {
        const before = base.applied.get(instance);
        delta += before === undefined || before > n ? n : n - before; // a new or restarted sync counts from 0
      }
      return { rowsPerSecond: round2(delta / ((now - base.at) / 1000)), basis: `changes applied over the last ${Math.round((now - base.at) / 1000)} s` };
    }
    // first call: the average since each sync started
    let total = 0;
    let seconds = 0;
    for (const s of live.syncs) {
      total += s.status.applied;
      seconds = Math.max(seconds, (now - Date.parse(s.startedAt)) / 1000);
    }
    if (seconds <= 0) return { rowsPerSecond: null, basis: 'no sync running' };
    return { rowsPerSecond: round2(total / seconds), basis: 'average since the sync started' };
  }
}

const round2 = (n: number) => Math.round(n * 100) / 100;
const num = (v: unknown) => Number(v ?? 0);

export interface ProgressReport {
  phase: Phase;
  readsFrom: 'legacy' | 'new' | null;
  pipeline: PipelineRecord | null;
  tables: TableProgress[];
  totals: { total: number; migrated: number; failed: number; remaining: number; percent: number };
  snapshot: {
    requests: { id: string; scope: string; tables: string[]; targetId: string | null; status: string; rowsEmitted: number; reason: string; createdAt: string; startedAt: string | null; appliedAt: string | null }[];
    rowsPerSecond: number | null;
  };
  rate: { rowsPerSecond: number | null; basis: string };
  etaSeconds: number | null;
  lag: { seconds: number | null; syncsRunning: number; capturesRunning: number };
  errorRate: { ratio: number | null; threshold: number };
  paused: ControlState;
  /** automatic throttling in force now: why the snapshot waits, and each sync whose apply waits */
  throttled: Throttling;
  failedRecordsOpen: number;
  rolledBackLoans: number;
  /** captured tables whose changes are not captured (renamed, dropped, not in the publication) */
  capturedTableAlerts: { table: string; problem: string; detail: string }[];
}

export interface Throttling {
  active: boolean;
  snapshot: string | null;
  apply: { instance: string; reason: string }[];
}

function throttlingOf(live: LiveState): Throttling {
  const snapshot = live.captures.map((c) => c.status.snapshotThrottled).find((r): r is string => r !== null && r.length > 0) ?? null;
  const apply = live.syncs.filter((s) => s.status.throttled).map((s) => ({ instance: s.instance, reason: s.status.throttleReason ?? 'throttled' }));
  return { active: snapshot !== null || apply.length > 0, snapshot, apply };
}

export interface ProgressOptions {
  pool: pg.Pool;
  pipeline?: LocalPipeline;
  sampler: RateSampler;
  errorRateThreshold: number;
}

async function stateExists(pool: pg.Pool): Promise<boolean> {
  const r = await pool.query<{ ok: boolean }>(
    `SELECT to_regclass('prestamos_cdc.pipeline') IS NOT NULL AND to_regclass('"PrestamoNew"') IS NOT NULL AND to_regclass('prestamos_cdc.rolled_back_loans') IS NOT NULL AS ok`,
  );
  return r.rows[0]!.ok;
}

export async function progress(options: ProgressOptions): Promise<ProgressReport> {
  const live = await readLiveState(options.pool, options.pipeline);
  const rate = options.sampler.record(live);
  const lag = { seconds: live.lagSeconds, syncsRunning: live.syncs.length, capturesRunning: live.captures.length };
  const errorRate = { ratio: live.errorRatio, threshold: options.errorRateThreshold };
  if (!(await stateExists(options.pool))) {
    const legacy = await options.pool.query(
      `SELECT (SELECT count(*) FROM "Prestamo")::text AS p, (SELECT count(*) FROM "PagoPrestamo")::text AS g,
              (SELECT count(*) FROM "Accion")::text AS a, (SELECT count(*) FROM "Multa")::text AS m`,
    );
    const x = legacy.rows[0]!;
    const tables: TableProgress[] = (
      [
        ['Prestamo', x.p],
        ['PagoPrestamo', x.g],
        ['Accion', x.a],
        ['Multa', x.m],
      ] as const
    ).map(([table, n]) => ({ table, total: num(n), migrated: 0, rolledBack: 0, failed: 0, remaining: num(n), percent: num(n) === 0 ? 100 : 0, problem: null }));
    return {
      phase: 'not started',
      readsFrom: null,
      pipeline: null,
      tables,
      totals: totalsOf(tables),
      snapshot: { requests: [], rowsPerSecond: null },
      rate,
      etaSeconds: null,
      lag,
      errorRate,
      paused: { paused: false, reason: null, changedBy: null, changedAt: new Date(0).toISOString() },
      throttled: throttlingOf(live),
      failedRecordsOpen: 0,
      rolledBackLoans: 0,
      capturedTableAlerts: [],
    };
  }
  const pipeline = await readPipeline(options.pool);
  // A captured table renamed or dropped is reported, and its legacy count left out (it cannot be read)
  const tableProblems = pipeline ? await findCapturedTableProblems(options.pool, pipeline.publication, CAPTURED_TABLES) : [];
  const problemOf = (table: string) => tableProblems.find((p) => p.table === table) ?? null;
  const legacy = (table: CapturedTable, sql: string) => (problemOf(table)?.problem === 'missing' ? 'NULL' : sql);
  const c = (
    await options.pool.query(
      `SELECT ${legacy('Prestamo', `(SELECT count(*) FROM "Prestamo")::text`)} AS p_total,
              ${legacy('Prestamo', `(SELECT count(*) FROM "Prestamo" p WHERE EXISTS (SELECT 1 FROM prestamos_cdc.rolled_back_loans r WHERE r.prestamo_id = p.id))::text`)} AS p_rb,
              (SELECT count(*) FROM "PrestamoNew")::text AS p_new,
              ${legacy('PagoPrestamo', `(SELECT count(*) FROM "PagoPrestamo")::text`)} AS g_total,
              ${legacy('PagoPrestamo', `(SELECT count(*) FROM "PagoPrestamo" pp WHERE EXISTS (SELECT 1 FROM prestamos_cdc.rolled_back_loans r WHERE r.prestamo_id = pp."prestamoId"))::text`)} AS g_rb,
              (SELECT count(*) FROM "PagoPrestamoNew")::text AS g_new,
              ${legacy('Accion', `(SELECT count(*) FROM "Accion")::text`)} AS a_total,
              (SELECT count(*) FROM prestamos_cdc.row_state WHERE source_table = 'Accion' AND NOT deleted AND lsn IS NOT NULL)::text AS a_new,
              ${legacy('Multa', `(SELECT count(*) FROM "Multa")::text`)} AS m_total,
              (SELECT count(*) FROM prestamos_cdc.row_state WHERE source_table = 'Multa' AND NOT deleted AND lsn IS NOT NULL)::text AS m_new,
              (SELECT count(*) FROM prestamos_cdc.rolled_back_loans)::text AS rolled_back,
              (SELECT coalesce(json_object_agg(coalesce(source_table, '(unknown)'), n), '{}') FROM
                 (SELECT source_table, count(*) AS n FROM prestamos_cdc.failed_records WHERE status = 'open' GROUP BY source_table) f) AS failed,
              prestamos_cdc.reads_routed_to() AS reads`,
    )
  ).rows[0]!;
  const failed = (c.failed ?? {}) as Record<string, number>;
  const row = (table: TableProgress['table'], total: unknown, migrated: unknown, rolledBack: unknown): TableProgress => {
    const t = num(total);
    const m = num(migrated);
    const rb = num(rolledBack);
    const expected = Math.max(0, t - rb);
    const remaining = Math.max(0, expected - m);
    const problem = problemOf(table);
    return {
      table,
      total: t,
      migrated: m,
      rolledBack: rb,
      failed: num(failed[table]),
      remaining,
      percent: expected === 0 ? 100 : Math.floor((Math.min(m, expected) / expected) * 10_000) / 100,
      problem: problem ? describeCapturedTableProblem(problem) : null,
    };
  };
  const tables = [
    row('Prestamo', c.p_total, c.p_new, c.p_rb),
    row('PagoPrestamo', c.g_total, c.g_new, c.g_rb),
    row('Accion', c.a_total, c.a_new, 0),
    row('Multa', c.m_total, c.m_new, 0),
  ];
  const requests = (
    await options.pool.query(
      `SELECT id::text, scope, tables, target_id, status, rows_emitted::text, reason, created_at::text, started_at::text, applied_at::text,
              extract(epoch FROM now() - started_at)::float8 AS running_seconds
         FROM prestamos_cdc.snapshot_requests ORDER BY id DESC LIMIT 20`,
    )
  ).rows;
  const active = requests.filter((r) => r.scope === 'tables' && !isFinal(r.status));
  const running = active.find((r) => r.status === 'running' && Number(r.running_seconds) > 0);
  const snapshotRate = running ? round2(num(running.rows_emitted) / Number(running.running_seconds)) : null;
  const phase: Phase = !pipeline ? 'not started' : c.reads === 'new' ? 'cut over' : active.length > 0 ? 'snapshotting' : 'streaming';
  const totals = totalsOf(tables);
  const speed = phase === 'snapshotting' ? (snapshotRate ?? rate.rowsPerSecond) : rate.rowsPerSecond;
  const etaSeconds = totals.remaining === 0 ? 0 : speed && speed > 0 ? Math.ceil(totals.remaining / speed) : null;
  return {
    phase,
    readsFrom: c.reads,
    pipeline,
    tables,
    totals,
    snapshot: {
      requests: requests.map((r) => ({
        id: r.id,
        scope: r.scope,
        tables: r.tables,
        targetId: r.target_id,
        status: r.status,
        rowsEmitted: num(r.rows_emitted),
        reason: r.reason,
        createdAt: r.created_at,
        startedAt: r.started_at,
        appliedAt: r.applied_at,
      })),
      rowsPerSecond: snapshotRate,
    },
    rate,
    etaSeconds,
    lag,
    errorRate,
    paused: await readControl(options.pool),
    throttled: throttlingOf(live),
    failedRecordsOpen: Object.values(failed).reduce((a, b) => a + num(b), 0),
    rolledBackLoans: num(c.rolled_back),
    capturedTableAlerts: tableProblems.map((p) => ({ table: p.table, problem: p.problem, detail: describeCapturedTableProblem(p) })),
  };
}

function totalsOf(tables: TableProgress[]) {
  const total = tables.reduce((a, t) => a + Math.max(0, t.total - t.rolledBack), 0);
  const migrated = tables.reduce((a, t) => a + Math.min(t.migrated, Math.max(0, t.total - t.rolledBack)), 0);
  const failed = tables.reduce((a, t) => a + t.failed, 0);
  const remaining = tables.reduce((a, t) => a + t.remaining, 0);
  return { total, migrated, failed, remaining, percent: total === 0 ? 100 : Math.floor((migrated / total) * 10_000) / 100 };
}

export interface MetricsReport {
  phase: Phase;
  speed: { rowsPerSecond: number | null; basis: string; snapshotRowsPerSecond: number | null; changesApplied: number; changesFailed: number };
  errors: { ratio: number | null; threshold: number; failedRecordsOpen: number; failedRecordsTotal: number };
  lag: ProgressReport['lag'];
  paused: ControlState;
  throttled: Throttling;
  slot: { name: string; exists: boolean; active: boolean; retainedWalBytes: number; unconfirmedBytes: number; walStatus: string | null } | null;
  resources: {
    process: { rssBytes: number; heapUsedBytes: number; heapTotalBytes: number; cpuUserSeconds: number; cpuSystemSeconds: number; uptimeSeconds: number };
    host: { loadAverage: number[]; cpus: number; freeMemoryBytes: number; totalMemoryBytes: number };
    database: { sizeBytes: number; connections: number; newTablesBytes: Record<string, number> } | null;
  };
  components: { component: string; instance: string; state: unknown; lastSeen: string }[];
}

export async function migrationMetrics(options: ProgressOptions & { slotName: string }): Promise<MetricsReport> {
  const p = await progress(options);
  const live = await readLiveState(options.pool, options.pipeline);
  const cpu = process.cpuUsage();
  const mem = process.memoryUsage();
  let failedTotal = 0;
  let database: MetricsReport['resources']['database'] = null;
  let slot: MetricsReport['slot'] = null;
  if (p.phase !== 'not started') {
    const f = await options.pool.query<{ n: string }>(`SELECT count(*)::text AS n FROM prestamos_cdc.failed_records`);
    failedTotal = num(f.rows[0]!.n);
    const name = p.pipeline?.slotName ?? options.slotName;
    const s = await slotStatus(options.pool, name);
    slot = { name, exists: s.exists, active: s.active, retainedWalBytes: s.retainedWalBytes, unconfirmedBytes: s.unconfirmedBytes, walStatus: s.walStatus };
  }
  const d = await options.pool.query(
    `SELECT pg_database_size(current_database())::text AS size,
            (SELECT count(*) FROM pg_stat_activity WHERE datname = current_database())::text AS connections,
            coalesce(pg_total_relation_size(to_regclass('"PrestamoNew"')), 0)::text AS loans,
            coalesce(pg_total_relation_size(to_regclass('"PagoPrestamoNew"')), 0)::text AS payments,
            coalesce(pg_total_relation_size(to_regclass('capital_movements')), 0)::text AS movements,
            coalesce(pg_total_relation_size(to_regclass('prestamos_cdc.row_state')), 0)::text AS row_state`,
  );
  const x = d.rows[0]!;
  database = {
    sizeBytes: num(x.size),
    connections: num(x.connections),
    newTablesBytes: { PrestamoNew: num(x.loans), PagoPrestamoNew: num(x.payments), capital_movements: num(x.movements), 'prestamos_cdc.row_state': num(x.row_state) },
  };
  return {
    phase: p.phase,
    speed: {
      rowsPerSecond: p.rate.rowsPerSecond,
      basis: p.rate.basis,
      snapshotRowsPerSecond: p.snapshot.rowsPerSecond,
      changesApplied: live.syncs.reduce((a, s) => a + s.status.applied, 0),
      changesFailed: live.syncs.reduce((a, s) => a + s.status.failed, 0),
    },
    errors: { ratio: p.errorRate.ratio, threshold: p.errorRate.threshold, failedRecordsOpen: p.failedRecordsOpen, failedRecordsTotal: failedTotal },
    lag: p.lag,
    paused: p.paused,
    throttled: p.throttled,
    slot,
    resources: {
      process: {
        rssBytes: mem.rss,
        heapUsedBytes: mem.heapUsed,
        heapTotalBytes: mem.heapTotal,
        cpuUserSeconds: round2(cpu.user / 1e6),
        cpuSystemSeconds: round2(cpu.system / 1e6),
        uptimeSeconds: Math.round(process.uptime()),
      },
      host: { loadAverage: os.loadavg().map(round2), cpus: os.cpus().length, freeMemoryBytes: os.freemem(), totalMemoryBytes: os.totalmem() },
      database,
    },
    components: [...live.syncs, ...live.captures].map((c) => ({ component: c.component, instance: c.instance, state: c.status.state, lastSeen: c.lastSeen })),
  };
}
