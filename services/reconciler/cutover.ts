// Cutover: the application reads loans through the read-routing views prestamos_read."Prestamo" and
// prestamos_read."PagoPrestamo" (sql/reconciler_views.sql). Switching them is one transaction that
// replaces both view definitions (prestamos_cdc.route_reads) and records the switch in
// prestamos_cdc.pipeline, under a local lock_timeout: CREATE OR REPLACE VIEW locks only the views, so
// writes to the tables never wait; readers of the views wait at most lock_timeout, and if the lock
// cannot be had in that time nothing changes and the call answers 409.
//
// To the new tables only when it is safe: the migration started and its first load applied, a sync
// running with end-to-end lag under CUTOVER_MAX_LAG_SECONDS, the apply not paused, no open failed
// record, no rolled-back loan (the application would stop seeing it), and consistency 100 %: no
// mismatch in loans, payments, ledger, capital or relationships. Rows in flight (see
// verification.ts) are re-checked after the sync has caught up past the moment of the check, up to
// three times; a row still in flight each time is refused as not applied. Back to legacy is always
// allowed.
import { unfinishedRequests } from '../runtime/snapshot-requests.ts';
import type pg from 'pg';
import type { Logger } from '../runtime/logger.ts';
import type { Metrics } from '../runtime/metrics.ts';
import { ConflictError, errorMessage } from '../runtime/errors.ts';
import { readControl, readPipeline } from '../runtime/control-plane.ts';
import type { LocalPipeline } from '../runtime/local-pipeline.ts';
import { readLiveState, waitForSyncCatchUp } from './live-state.ts';
import { consistency, type ConsistencyReport } from './verification.ts';
import { inTransaction } from '../../connectors/postgres/transaction.ts';

export type ReadTarget = 'legacy' | 'new';

export interface CutoverOptions {
  pool: pg.Pool;
  logger: Logger;
  metrics?: Metrics;
  pipeline?: LocalPipeline;
  lockTimeoutMs: number;
  maxLagSeconds: number;
  /** how long the in-flight re-check may wait for the sync, in total */
  settleTimeoutMs?: number;
}

export interface CutoverCheck {
  name: string;
  ok: boolean;
  detail: string;
}

export interface CutoverReadiness {
  ok: boolean;
  readsFrom: ReadTarget | null;
  checks: CutoverCheck[];
  reasons: string[];
}

/** In-flight keys collected for the re-check; more than this in flight refuses ("wait and retry"). */
const MAX_IN_FLIGHT_RECHECKED = 10_000;

export async function readsRoutedTo(db: Pick<pg.Pool, 'query'>): Promise<ReadTarget | null> {
  const r = await db.query<{ t: ReadTarget | null }>(
    `SELECT CASE WHEN to_regprocedure('prestamos_cdc.reads_routed_to()') IS NULL THEN NULL ELSE prestamos_cdc.reads_routed_to() END AS t`,
  );
  return r.rows[0]?.t ?? null;
}

/** The checks of a cutover to the new tables, all of them (a dry run: nothing changes). */
export async function cutoverReadiness(options: CutoverOptions): Promise<CutoverReadiness> {
  const checks: CutoverCheck[] = [];
  const add = (name: string, ok: boolean, detail: string) => checks.push({ name, ok, detail });
  const readsFrom = await readsRoutedTo(options.pool);
  add('read routing', readsFrom !== null, readsFrom ? `prestamos_read views read from ${readsFrom}` : 'the read-routing views are missing: run `prestamos-cdc migrate`');
  if (readsFrom === null) return finish(readsFrom, checks);

  const pipeline = await readPipeline(options.pool);
  add('migration started', pipeline !== null, pipeline ? `started ${pipeline.startedAt} by ${pipeline.startedBy}` : 'the migration has not started (POST /prestamos/migration/start)');
  const snap = await unfinishedRequests(options.pool);
  add(
    'snapshots applied',
    snap.unfinished === 0 && snap.failed.length === 0,
    snap.unfinished > 0
      ? `${snap.unfinished} snapshot requests are not applied yet`
      : snap.failed.length > 0
        ? `${snap.failed.length} snapshot requests failed and were not asked for again (request ${snap.failed[0]!.id}: ${snap.failed[0]!.error ?? 'no error recorded'})`
        : 'every snapshot request is applied',
  );
  const failed = await options.pool.query<{ n: string }>(`SELECT count(*)::text AS n FROM prestamos_cdc.failed_records WHERE status = 'open'`);
  const openFailed = Number(failed.rows[0]!.n);
  add('no failed records', openFailed === 0, openFailed === 0 ? 'no open failed record' : `${openFailed} failed records are open (GET /prestamos/migration/failed; retry or resolve them)`);
  const rb = await options.pool.query<{ n: string }>(`SELECT count(*)::text AS n FROM prestamos_cdc.rolled_back_loans`);
  const rolledBack = Number(rb.rows[0]!.n);
  add('no rolled-back loans', rolledBack === 0, rolledBack === 0 ? 'no loan is rolled back' : `${rolledBack} loans are rolled back and absent from the new tables: migrate them again (POST /prestamos/migration/single/{id})`);
  const control = await readControl(options.pool);
  add('apply running', !control.paused, control.paused ? `the apply is paused: ${control.reason ?? ''}` : 'the apply is not paused');
  const live = await readLiveState(options.pool, options.pipeline);
  const lagOk = live.lagSeconds !== null && live.lagSeconds < options.maxLagSeconds;
  add(
    'lag',
    lagOk,
    live.lagSeconds === null ? 'no sync is running: lag unknown' : `end-to-end lag ${live.lagSeconds.toFixed(3)} s (limit ${options.maxLagSeconds} s)`,
  );
  const cheapOk = checks.every((c) => c.ok);
  // consistency last; its in-flight re-check waits for the sync, which only makes sense when it runs
  const c = await settledConsistency(options, cheapOk);
  add('consistency', c.ok, c.detail);
  return finish(readsFrom, checks);
}

function finish(readsFrom: ReadTarget | null, checks: CutoverCheck[]): CutoverReadiness {
  const reasons = checks.filter((c) => !c.ok).map((c) => `${c.name}: ${c.detail}`);
  return { ok: reasons.length === 0, readsFrom, checks, reasons };
}

function describe(r: ConsistencyReport): string[] {
  const out: string[] = [];
  if (r.dataMatching.loans.mismatched) out.push(`${r.dataMatching.loans.mismatched} loans differ (first: ${r.mismatches.loans.slice(0, 5).map((m) => m.id).join(', ')})`);
  if (r.dataMatching.payments.mismatched) out.push(`${r.dataMatching.payments.mismatched} payments differ (first: ${r.mismatches.payments.slice(0, 5).map((m) => m.id).join(', ')})`);
  if (r.ledger.mismatched) out.push(`${r.ledger.mismatched} ledger worths differ`);
  if (r.capital.discrepancies) out.push(`${r.capital.discrepancies} juntas have a capital discrepancy (first: ${r.capital.first.slice(0, 5).map((c) => c.juntaId).join(', ')})`);
  if (r.relationships.orphanPayments.count) out.push(`${r.relationships.orphanPayments.count} payments without their loan`);
  return out;
}

const keysOf = (r: ConsistencyReport) => new Set([...r.inFlight.loans.map((x) => `loan ${x}`), ...r.inFlight.payments.map((x) => `payment ${x}`), ...r.inFlight.ledger.map((x) => `ledger ${x}`)]);

async function settledConsistency(options: CutoverOptions, pipelineHealthy: boolean): Promise<{ ok: boolean; detail: string }> {
  let report = await consistency(options.pool, { limit: 20, inFlightKeys: MAX_IN_FLIGHT_RECHECKED, metrics: options.metrics });
  if (!report.consistent) return { ok: false, detail: `consistency below 100 %: ${describe(report).join('; ')}` };
  if (report.inFlight.total === 0) return { ok: true, detail: 'consistency 100 %, nothing in flight' };
  if (report.inFlight.total > MAX_IN_FLIGHT_RECHECKED) return { ok: false, detail: `${report.inFlight.total} rows in flight: wait until the sync has caught up, then retry` };
  if (!pipelineHealthy) return { ok: false, detail: `${report.inFlight.total} rows in flight and the pipeline is not healthy enough to wait for them` };
  // Rows in flight: wait until the sync has applied everything committed before now, check again, and
  // keep only the rows that were in flight every time.
  let stuck = keysOf(report);
  const deadline = Date.now() + (options.settleTimeoutMs ?? 20_000);
  for (let round = 1; round <= 3 && stuck.size > 0; round++) {
    const caughtUp = await waitForSyncCatchUp(options.pool, Math.max(500, deadline - Date.now()));
    if (!caughtUp) return { ok: false, detail: `${stuck.size} rows in flight and the sync did not catch up in time: retry` };
    report = await consistency(options.pool, { limit: 20, inFlightKeys: MAX_IN_FLIGHT_RECHECKED, metrics: options.metrics });
    if (!report.consistent) return { ok: false, detail: `consistency below 100 %: ${describe(report).join('; ')}` };
    const now = keysOf(report);
    stuck = new Set([...stuck].filter((k) => now.has(k)));
  }
  if (stuck.size > 0) {
    return { ok: false, detail: `${stuck.size} rows stayed in flight through three catch-ups of the sync (changing all the time, or not applied): ${[...stuck].slice(0, 5).join(', ')}` };
  }
  return { ok: true, detail: `consistency 100 % (${report.inFlight.total} newer changes in flight, applied within the lag)` };
}

export interface CutoverResult {
  readsFrom: ReadTarget;
  changed: boolean;
  switchedAt: string | null;
  durationMs: number;
  checks: CutoverCheck[];
}

/** Switches reads to `to` (after the checks, for "new"); throws ConflictError with the reasons. */
export async function cutover(options: CutoverOptions, to: ReadTarget, actor: string): Promise<CutoverResult> {
  let checks: CutoverCheck[] = [];
  const now = await readsRoutedTo(options.pool);
  if (now === null) throw new ConflictError('the read-routing views are missing', ['run `prestamos-cdc migrate` first'], 'cutover_refused');
  if (now === to) return { readsFrom: to, changed: false, switchedAt: null, durationMs: 0, checks };
  if (to === 'new') {
    const readiness = await cutoverReadiness(options);
    checks = readiness.checks;
    if (!readiness.ok) throw new ConflictError('cutover to the new tables refused', readiness.reasons, 'cutover_refused');
  }
  const t0 = process.hrtime.bigint();
  let switchedAt: string;
  try {
    switchedAt = await inTransaction(options.pool, async (client) => {
      await client.query(`SET LOCAL lock_timeout = ${Math.trunc(options.lockTimeoutMs)}`);
      if (to === 'new') {
        // what could have changed since the checks, checked again inside the switch
        const again = await client.query<{ failed: string; rb: string }>(
          `SELECT (SELECT count(*) FROM prestamos_cdc.failed_records WHERE status = 'open')::text AS failed,
                  (SELECT count(*) FROM prestamos_cdc.rolled_back_loans)::text AS rb`,
        );
        const reasons: string[] = [];
        if (again.rows[0]!.failed !== '0') reasons.push(`${again.rows[0]!.failed} failed records opened during the checks`);
        if (again.rows[0]!.rb !== '0') reasons.push(`${again.rows[0]!.rb} loans were rolled back during the checks`);
        if (reasons.length) throw new ConflictError('cutover to the new tables refused', reasons, 'cutover_refused');
      }
      await client.query('SELECT prestamos_cdc.route_reads($1)', [to]);
      const r = await client.query<{ at: string }>(
        `UPDATE prestamos_cdc.pipeline SET reads_from = $1, reads_switched_at = now(), updated_at = now()
          WHERE name = 'main' RETURNING reads_switched_at::text AS at`,
        [to],
      );
      return r.rows[0]?.at ?? (await client.query<{ at: string }>('SELECT now()::text AS at')).rows[0]!.at;
    });
  } catch (err) {
    if ((err as { code?: string }).code === '55P03') {
      throw new ConflictError(
        `could not lock the read-routing views within lock_timeout (${options.lockTimeoutMs} ms): long-running reads hold them; nothing changed, retry`,
        [errorMessage(err)],
        'lock_timeout',
      );
    }
    throw err;
  }
  const durationMs = Number(process.hrtime.bigint() - t0) / 1e6;
  options.logger.warn({ to, actor, durationMs, switchedAt }, `reads switched to the ${to} tables`);
  return { readsFrom: to, changed: true, switchedAt, durationMs: Math.round(durationMs * 10) / 10, checks };
}
