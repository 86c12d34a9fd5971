// Self-repair (REPAIR_MODE=auto): carries out the plan of repair-planner.ts. A loan is re-synced with
// its payments and ledger through the single-loan mechanism (a loan-scope snapshot request ordered in
// the stream, or in-process before any capture streams); a share or a fine through a re-sync of its
// table (a snapshot request). Each repair writes an audit row (action verification.repair, with the
// rows and fields that differed), a warning in the log, and counts prestamos_cdc_repairs_total{kind};
// what is wrong twice in a row but not repaired (REPAIR_MODE=off, rate limit, cool-down) is the gauge
// prestamos_cdc_repair_candidates and listed by `candidates()`. A rolled-back loan is never re-synced
// by itself: the operator took it out on purpose.
import { randomUUID } from 'node:crypto';
import type pg from 'pg';
import type { Logger } from '../runtime/logger.ts';
import type { Metrics } from '../runtime/metrics.ts';
import { errorMessage } from '../runtime/errors.ts';
import { requestTableResync } from '../runtime/snapshot-requests.ts';
import { migrateSingleLoan, type SingleLoanDeps } from './single-loan.ts';
import { planRepairs, targetKey, type Finding, type PlannedRepair, type RepairPolicy, type RepairTarget } from './repair-planner.ts';
import { sanitizeForJson } from './validation.ts';

export const REPAIR_ACTOR = 'reconciler self-repair';
export const REPAIR_KINDS = ['loan', 'share', 'fine'] as const;

export interface SelfRepairOptions {
  deps: SingleLoanDeps & { metrics: Metrics };
  policy: RepairPolicy;
}

export interface Candidate {
  key: string;
  target: RepairTarget | null;
  reason: string;
  since: string;
}

const kindOf = (t: RepairTarget): (typeof REPAIR_KINDS)[number] => (t.kind === 'loan' ? 'loan' : t.table === 'Accion' ? 'share' : 'fine');

export class SelfRepair {
  private readonly options: SelfRepairOptions;
  private readonly lastRepairAt = new Map<string, number>();
  private repairTimes: number[] = [];
  private readonly withheld = new Map<string, Candidate>();

  constructor(options: SelfRepairOptions) {
    this.options = options;
    for (const kind of REPAIR_KINDS) options.deps.metrics.repairs.inc({ kind }, 0);
    options.deps.metrics.repairCandidates.set(0);
  }

  get mode(): RepairPolicy['mode'] {
    return this.options.policy.mode;
  }

  /** Wrong twice in a row, not repaired: why. */
  candidates(): Candidate[] {
    return [...this.withheld.values()];
  }

  /** What the check of one range found, against the previous check of the same rows. */
  async consider(previous: ReadonlySet<string>, findings: Finding[], now = Date.now()): Promise<PlannedRepair[]> {
    const found = new Set(findings.map((f) => f.key));
    for (const key of previous) if (!found.has(key)) this.withheld.delete(key);
    this.repairTimes = this.repairTimes.filter((t) => now - t < 3_600_000);
    const plan = planRepairs(previous, findings, this.options.policy, { lastRepairAt: this.lastRepairAt, repairsInLastHour: this.repairTimes.length }, now);
    for (const w of plan.withheld) {
      for (const f of w.findings) this.withheld.set(f.key, { key: f.key, target: w.target, reason: w.reason, since: this.withheld.get(f.key)?.since ?? new Date(now).toISOString() });
    }
    const done: PlannedRepair[] = [];
    for (const repair of plan.repairs) {
      for (const f of repair.findings) this.withheld.delete(f.key);
      if (await this.repair(repair, now)) done.push(repair);
    }
    this.options.deps.metrics.repairCandidates.set(this.withheld.size);
    return done;
  }

  private async repair(r: PlannedRepair, now: number): Promise<boolean> {
    const { pool, logger, metrics } = this.options.deps;
    const requestId = `repair-${randomUUID()}`;
    const params = { target: r.target, findings: r.findings.map((f) => ({ key: f.key, ...(f.detail as Record<string, unknown>) })) };
    let outcome: string;
    let status = 200;
    let repaired = false;
    try {
      if (r.target.kind === 'loan') {
        const rolledBack = await pool.query('SELECT 1 FROM prestamos_cdc.rolled_back_loans WHERE prestamo_id = $1', [r.target.loanId]);
        if ((rolledBack.rowCount ?? 0) > 0) {
          for (const f of r.findings) this.withheld.set(f.key, { key: f.key, target: r.target, reason: 'the loan is rolled back: not re-synced by itself', since: new Date(now).toISOString() });
          return false;
        }
        const single = await migrateSingleLoan(this.options.deps, r.target.loanId, REPAIR_ACTOR, 0);
        outcome = single.status === 'applied' ? `ok: loan re-synced ${single.mode}` : `ok: loan re-sync requested (snapshot request ${single.requestId})`;
      } else {
        const req = await requestTableResync(pool, r.target.table, `self-repair: ${r.findings.length} row(s) of ${r.target.table} wrong twice in a row`, REPAIR_ACTOR);
        outcome = `ok: table ${r.target.table} re-sync ${req.created ? 'requested' : 'already waiting'} (snapshot request ${req.id})`;
      }
      repaired = true;
      this.lastRepairAt.set(targetKey(r.target), now);
      this.repairTimes.push(now);
      metrics.repairs.inc({ kind: kindOf(r.target) });
      logger.warn({ repair: r.target, findings: params.findings, requestId }, 'self-repair: re-synced a row the verification found wrong twice in a row (something wrote behind the pipeline, or a defect)');
    } catch (err) {
      status = 500;
      outcome = `error: ${errorMessage(err)}`;
      logger.error({ repair: r.target, err: outcome }, 'self-repair failed; the row stays reported');
    }
    await pool
      .query(`INSERT INTO prestamos_cdc.audit_log (actor, role, action, params, outcome, status, request_id) VALUES ($1, 'system', 'verification.repair', $2::jsonb, $3, $4, $5)`, [
        REPAIR_ACTOR,
        JSON.stringify(sanitizeForJson(params)),
        outcome.slice(0, 2000),
        status,
        requestId,
      ])
      .catch((err) => logger.error({ err: errorMessage(err) }, 'audit row of a repair could not be written'));
    return repaired;
  }
}
