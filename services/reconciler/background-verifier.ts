// Continuous verification: every VERIFY_INTERVAL_SECONDS the reconciler checks the next ranges of junta
// ids (services/reconciler/verification.ts, consistencyOfRange) until it has checked
// VERIFY_LOANS_PER_PASS loans or reached the end of the key space; the next pass goes on from there,
// and a cycle ends when the last range is done. A range holds at most VERIFY_SLICE_LOANS legacy loans
// (or one junta, whatever its size) and is checked in one short read-only snapshot, so the cost of a
// pass is bounded by the budget, not by the size of the database.
//
// The last result of every range is kept: their merge is the answer of GET /consistency (with its
// age), feeds the consistency and capital-discrepancy gauges, and is stored in
// prestamos_cdc.verification_runs (for `prestamos-cdc status`, the report, and the other reconcilers).
// A fresh whole-database check (GET /consistency?fresh=true) is the answer until the next pass ends;
// concurrent callers of a fresh check share one run. When several reconcilers run, a session advisory
// lock lets one verify at a time; the others answer from the stored result.
//
// Rows wrong in two consecutive checks of their range and not in flight are handed to self-repair.
//
// While a table snapshot (the first load, or a table re-sync) is unfinished, background passes wait:
// rows it has not reached yet would all be reported missing (and, twice in a row, handed to
// self-repair), and the pass would compete with the load for the database. The ranges checked before
// it are dropped and the cycle starts again once it is applied. The status says what it waits for; a
// fresh check (GET /consistency?fresh=true) still runs on demand.
import type pg from 'pg';
import type { Logger } from '../runtime/logger.ts';
import type { Metrics } from '../runtime/metrics.ts';
import { errorMessage } from '../runtime/errors.ts';
import { consistency, consistencyOfRange, setConsistencyMetrics, CONSISTENCY_CHECKS, type ConsistencyReport, type JuntaRange } from './verification.ts';
import { mergeConsistency, limitLists } from './consistency-merge.ts';
import type { Finding } from './repair-planner.ts';
import type { SelfRepair, Candidate } from './self-repair.ts';

/** Lists kept per range and in the merged result (an answer's `limit` is at most this). */
export const KEPT_LIST_LENGTH = 200;
/** Lock id of the background verification (pg_try_advisory_lock). */
const VERIFY_LOCK_ID = 7_349_112_401;
/** verification_runs rows kept (the latest is what is read; a few hundred give a short history). */
const RUNS_KEPT = 500;
/** Lists stored per kind in verification_runs (a row stays small even when much is wrong). */
const STORED_LIST_LENGTH = 20;

export interface VerificationResult {
  report: ConsistencyReport;
  /** when the pass that produced this ended */
  checkedAt: string;
  durationMs: number;
  /** cycles completed so far by this process (a cycle: every range once) */
  cycle: number;
  /** every range of the key space has been checked at least once */
  cycleComplete: boolean;
  /** share of the legacy loans covered by the kept results (1 once a cycle is complete) */
  coverage: number;
  source: 'background' | 'fresh';
  ranges: number;
  /** self-repair's mode and the rows wrong twice in a row that it has not repaired */
  repair: { mode: 'off' | 'auto'; candidates: Candidate[]; candidateCount: number };
}

export interface BackgroundVerifierOptions {
  pool: pg.Pool;
  logger: Logger;
  metrics: Metrics;
  intervalSeconds: number;
  loansPerPass: number;
  sliceLoans: number;
  repair: SelfRepair;
}

interface RangeResult {
  range: JuntaRange;
  report: ConsistencyReport;
}

const before = (a: string, b: string | null) => b === null || a < b;

/** The next range of junta ids from `from`: up to `maxLoans` legacy loans, or the one junta at `from`. */
export async function nextJuntaRange(db: Pick<pg.Pool, 'query'>, from: string, maxLoans: number): Promise<JuntaRange> {
  const r = await db.query<{ to: string | null }>(`SELECT "juntaId" AS to FROM "Prestamo" WHERE "juntaId" >= $1 ORDER BY "juntaId" OFFSET $2 LIMIT 1`, [from, maxLoans]);
  let to = r.rows[0]?.to ?? null;
  if (to !== null && to <= from) {
    // one junta holds more than maxLoans loans: the range is that junta
    const n = await db.query<{ to: string | null }>(`SELECT min("juntaId") AS to FROM "Prestamo" WHERE "juntaId" > $1`, [from]);
    to = n.rows[0]?.to ?? null;
  }
  return { from, to };
}

export class BackgroundVerifier {
  private readonly options: BackgroundVerifierOptions;
  private results: RangeResult[] = [];
  private cursor = '';
  private cycle = 0;
  private cycleComplete = false;
  private latestResult: VerificationResult | undefined;
  private pass: Promise<VerificationResult | undefined> | undefined;
  private fresh: Promise<VerificationResult> | undefined;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  private lastError: string | null = null;
  /** the table snapshot the background passes wait for (null: none) */
  private waitingFor: string | null = null;

  constructor(o: BackgroundVerifierOptions) {
    this.options = o;
  }

  /** The gauges exist from the start; the first pass runs now, then every interval. */
  start(): void {
    this.options.metrics.verificationRuns.inc({ outcome: 'ok' }, 0);
    this.options.metrics.verificationRuns.inc({ outcome: 'failed' }, 0);
    for (const check of CONSISTENCY_CHECKS) this.options.metrics.consistencyRatio.set({ check }, 0);
    this.schedule(0);
  }

  /** Stops after the range being checked (a fresh whole-database check is not waited for: closing the pool ends it). */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    await this.pass?.catch(() => undefined);
  }

  /** The last result of this process, or the last one stored by any reconciler. */
  async latest(): Promise<VerificationResult | undefined> {
    if (this.latestResult) return this.latestResult;
    return readLatestVerification(this.options.pool);
  }

  status(): { lastError: string | null; running: boolean; waitingFor: string | null } {
    return { lastError: this.lastError, running: this.pass !== undefined, waitingFor: this.waitingFor };
  }

  /** One background pass now (shared with one already running). */
  runPass(): Promise<VerificationResult | undefined> {
    this.pass ??= this.passOnce().finally(() => {
      this.pass = undefined;
    });
    return this.pass;
  }

  /** A whole-database check now; concurrent callers share one run. */
  runFresh(): Promise<VerificationResult> {
    this.fresh ??= this.freshOnce().finally(() => {
      this.fresh = undefined;
    });
    return this.fresh;
  }

  private schedule(delayMs: number): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.runPass()
        .catch(() => undefined)
        .finally(() => this.schedule(this.options.intervalSeconds * 1000));
    }, delayMs);
    this.timer.unref();
  }

  private async passOnce(): Promise<VerificationResult | undefined> {
    const t0 = Date.now();
    const lock = await this.options.pool.connect();
    try {
      const got = await lock.query<{ ok: boolean }>('SELECT pg_try_advisory_lock($1) AS ok', [VERIFY_LOCK_ID]);
      if (!got.rows[0]!.ok) {
        // another reconciler verifies: this one's gauges follow the result it stored
        this.options.logger.debug('another reconciler is verifying; this one answers from the stored result');
        const stored = await readLatestVerification(this.options.pool);
        if (stored) this.setGauges(stored);
        return undefined;
      }
      try {
        if (!(await migrationObjectsPresent(this.options.pool))) {
          this.lastError = 'the migration objects are not installed (prestamos-cdc migrate)';
          return undefined;
        }
        let loans = 0;
        let wrapped = false;
        while (!this.stopped && loans < this.options.loansPerPass && !wrapped) {
          // before every range: a table snapshot requested meanwhile (the first load right after the
          // process started) ends the pass here, with nothing published
          if (await this.waitsForTableSnapshot()) return undefined;
          const range = await nextJuntaRange(this.options.pool, this.cursor, Math.min(this.options.sliceLoans, this.options.loansPerPass));
          const report = await consistencyOfRange(this.options.pool, range, { limit: KEPT_LIST_LENGTH });
          const previous = this.keep({ range, report });
          await this.options.repair.consider(previousKeys(previous), await findingsOf(this.options.pool, report));
          loans += report.dataMatching.loans.total;
          if (range.to === null) {
            this.cursor = '';
            this.cycle++;
            this.cycleComplete = true;
            wrapped = true;
          } else this.cursor = range.to;
        }
        const result = await this.publish('background', Date.now() - t0);
        this.lastError = null;
        this.options.metrics.verificationRuns.inc({ outcome: 'ok' });
        return result;
      } finally {
        await lock.query('SELECT pg_advisory_unlock($1)', [VERIFY_LOCK_ID]).catch(() => undefined);
      }
    } catch (err) {
      this.lastError = errorMessage(err);
      this.options.metrics.verificationRuns.inc({ outcome: 'failed' });
      this.options.logger.error({ err: this.lastError }, 'background verification failed; it runs again at the next interval');
      throw err;
    } finally {
      lock.release();
    }
  }

  /**
   * Whether an unfinished table snapshot holds the background passes back (said in the log when it
   * changes). The ranges checked before it are dropped and the cycle starts again after it: they
   * describe the tables before the snapshot rewrote them, and a merged answer must not count them.
   */
  private async waitsForTableSnapshot(): Promise<boolean> {
    const snapshot = await unfinishedTableSnapshot(this.options.pool);
    if (snapshot !== null) {
      this.results = [];
      this.cursor = '';
      this.cycleComplete = false;
    }
    if (snapshot !== this.waitingFor) {
      if (snapshot) this.options.logger.info({ waitingFor: snapshot }, 'background verification waits for a table snapshot to be applied');
      else this.options.logger.info('table snapshot applied: background verification resumes');
    }
    this.waitingFor = snapshot;
    return snapshot !== null;
  }

  private async freshOnce(): Promise<VerificationResult> {
    const t0 = Date.now();
    // the answer until the next pass; the kept ranges are left alone (a pass running meanwhile keeps
    // adding to them, and their merge must not claim the coverage of this whole-database result)
    const report = await consistency(this.options.pool, { limit: KEPT_LIST_LENGTH });
    return this.publish('fresh', Date.now() - t0, { report, coverage: 1, ranges: 1 });
  }

  private setGauges(r: VerificationResult): void {
    setConsistencyMetrics(this.options.metrics, r.report);
    this.options.metrics.verificationLastTimestamp.set(Date.parse(r.checkedAt) / 1000);
    this.options.metrics.verificationDuration.set(r.durationMs / 1000);
    this.options.metrics.verificationCoverage.set(r.coverage);
  }

  /** Keeps a range's result in place of the results it overlaps; returns those. */
  private keep(entry: RangeResult): RangeResult[] {
    const { from, to } = entry.range;
    const overlaps = (r: RangeResult) => before(from, r.range.to) && before(r.range.from, to);
    const replaced = this.results.filter(overlaps);
    this.results = [...this.results.filter((r) => !overlaps(r)), entry].sort((a, b) => (a.range.from < b.range.from ? -1 : a.range.from > b.range.from ? 1 : 0));
    return replaced;
  }

  private async publish(source: VerificationResult['source'], durationMs: number, whole?: { report: ConsistencyReport; coverage: number; ranges: number }): Promise<VerificationResult> {
    const report = whole?.report ?? mergeConsistency(this.results.map((r) => r.report), KEPT_LIST_LENGTH);
    const coverage = whole?.coverage ?? (this.cycleComplete ? 1 : await coverageOf(this.options.pool, report.dataMatching.loans.total));
    const result: VerificationResult = {
      report,
      checkedAt: new Date().toISOString(),
      durationMs,
      cycle: this.cycle,
      cycleComplete: whole !== undefined || this.cycleComplete,
      coverage,
      source,
      ranges: whole?.ranges ?? this.results.length,
      repair: { mode: this.options.repair.mode, candidates: this.options.repair.candidates().slice(0, KEPT_LIST_LENGTH), candidateCount: this.options.repair.candidates().length },
    };
    this.latestResult = result;
    this.setGauges(result);
    await storeVerification(this.options.pool, result).catch((err) => this.options.logger.warn({ err: errorMessage(err) }, 'verification result could not be stored'));
    return result;
  }
}

/** The unfinished table-scope snapshot request (first load or re-sync), described; null: none. */
async function unfinishedTableSnapshot(pool: pg.Pool): Promise<string | null> {
  const r = await pool.query<{ id: string; tables: string[]; status: string }>(
    `SELECT id::text, tables, status FROM prestamos_cdc.snapshot_requests
      WHERE scope = 'tables' AND status IN ('pending', 'running', 'emitted') ORDER BY id LIMIT 1`,
  );
  const row = r.rows[0];
  return row ? `table snapshot request ${row.id} (${row.tables.join(', ')}), ${row.status}` : null;
}

async function migrationObjectsPresent(pool: pg.Pool): Promise<boolean> {
  const r = await pool.query<{ ok: boolean }>(`SELECT to_regprocedure('prestamos_cdc.loan_comparison_of(text[])') IS NOT NULL AND to_regclass('prestamos_cdc.verification_runs') IS NOT NULL AS ok`);
  return r.rows[0]!.ok;
}

/** Share of the legacy loans (planner estimate) that the kept results cover, below 1 until a cycle completes. */
async function coverageOf(pool: pg.Pool, loansCovered: number): Promise<number> {
  const r = await pool.query<{ n: string }>(`SELECT greatest(reltuples, 0)::bigint::text AS n FROM pg_class WHERE oid = '"Prestamo"'::regclass`);
  const total = Number(r.rows[0]?.n ?? 0);
  if (total <= 0) return 0;
  return Math.min(0.999999, Math.floor((loansCovered / total) * 1e6) / 1e6);
}

function previousKeys(replaced: RangeResult[]): Set<string> {
  const keys = new Set<string>();
  for (const r of replaced) {
    for (const m of r.report.mismatches.loans) keys.add(`loan:${m.id}`);
    for (const m of r.report.mismatches.payments) keys.add(`payment:${m.id}`);
    for (const l of r.report.ledger.first) keys.add(`ledger:${l.type}:${l.rowId}`);
  }
  return keys;
}

/** What a range's report found wrong (not in flight), each with the re-sync that would put it right. */
export async function findingsOf(pool: Pick<pg.Pool, 'query'>, report: ConsistencyReport): Promise<Finding[]> {
  const paymentIds = [...report.mismatches.payments.map((m) => m.id), ...report.ledger.first.filter((l) => l.type === 'PAGO').map((l) => l.rowId)];
  const loanOfPayment = new Map<string, string>();
  if (paymentIds.length > 0) {
    const r = await pool.query<{ id: string; loan: string }>(
      `SELECT DISTINCT ON (id) id, loan FROM (
          SELECT id, "prestamoId" AS loan, 1 AS pref FROM "PagoPrestamo" WHERE id = ANY($1::text[])
          UNION ALL SELECT id, prestamo_id, 2 FROM "PagoPrestamoNew" WHERE id = ANY($1::text[])) x
        ORDER BY id, pref`,
      [paymentIds],
    );
    for (const x of r.rows) loanOfPayment.set(x.id, x.loan);
  }
  const loanTarget = (id: string | undefined) => (id === undefined ? null : { kind: 'loan' as const, loanId: id });
  return [
    ...report.mismatches.loans.map((m) => ({ key: `loan:${m.id}`, target: loanTarget(m.id), detail: { loan: m.id, problem: m.problem, fields: m.fields } })),
    ...report.mismatches.payments.map((m) => ({ key: `payment:${m.id}`, target: loanTarget(loanOfPayment.get(m.id)), detail: { payment: m.id, problem: m.problem, fields: m.fields } })),
    ...report.ledger.first.map((l) => ({
      key: `ledger:${l.type}:${l.rowId}`,
      target:
        l.type === 'PRESTAMO' ? loanTarget(l.rowId)
        : l.type === 'PAGO' ? loanTarget(loanOfPayment.get(l.rowId))
        : { kind: 'table' as const, table: l.type === 'ACCION' ? ('Accion' as const) : ('Multa' as const) },
      detail: { ledger: l },
    })),
  ];
}

async function storeVerification(pool: pg.Pool, r: VerificationResult): Promise<void> {
  await pool.query(
    `WITH ins AS (INSERT INTO prestamos_cdc.verification_runs (checked_at, duration_ms, cycle, cycle_complete, coverage, consistent, result)
                  VALUES ($1, $2, $3, $4, $5, $6, $7::jsonb) RETURNING id)
     DELETE FROM prestamos_cdc.verification_runs WHERE id <= (SELECT id FROM ins) - $8`,
    [r.checkedAt, Math.min(2_147_483_647, Math.round(r.durationMs)), r.cycle, r.cycleComplete, r.coverage, r.report.consistent, JSON.stringify({ source: r.source, ranges: r.ranges, repair: { ...r.repair, candidates: r.repair.candidates.slice(0, STORED_LIST_LENGTH) }, report: limitLists(r.report, STORED_LIST_LENGTH) }), RUNS_KEPT],
  );
}

/** The last verification any reconciler stored (undefined before the first, or before the migration objects exist). */
export async function readLatestVerification(db: Pick<pg.Pool, 'query'>): Promise<VerificationResult | undefined> {
  try {
    const r = await db.query<{ checked_at_ms: string; duration_ms: number; cycle: number; cycle_complete: boolean; coverage: string; result: { source: VerificationResult['source']; ranges: number; repair?: VerificationResult['repair']; report: ConsistencyReport } }>(
      `SELECT (extract(epoch FROM checked_at) * 1000)::bigint::text AS checked_at_ms, duration_ms, cycle, cycle_complete, coverage::text, result FROM prestamos_cdc.verification_runs ORDER BY id DESC LIMIT 1`,
    );
    const x = r.rows[0];
    if (!x) return undefined;
    return {
      report: x.result.report,
      checkedAt: new Date(Number(x.checked_at_ms)).toISOString(),
      durationMs: x.duration_ms,
      cycle: x.cycle,
      cycleComplete: x.cycle_complete,
      coverage: Number(x.coverage),
      source: x.result.source,
      ranges: x.result.ranges,
      repair: x.result.repair ?? { mode: 'off', candidates: [], candidateCount: 0 },
    };
  } catch (err) {
    if ((err as { code?: string }).code === '42P01' || (err as { code?: string }).code === '3F000') return undefined;
    throw err;
  }
}
