// The migration report (GET /prestamos/migration/report, `prestamos-cdc report --out FILE`): every
// item of the operators' guides' success criteria and post-migration verification, each ticked or not
// with its evidence from the live system, plus the samples of the run for the charts. This module
// gathers the evidence; report-render.ts writes it as Markdown or as a self-contained HTML page.
//
// Consistency comes from the last complete verification when it is younger than three verification
// intervals, else from a whole-database check run now; the report says which and when.
import type pg from 'pg';
import { verify, consistency, type ConsistencyReport, type VerifyReport } from './verification.ts';
import { readLatestVerification } from './background-verifier.ts';
import { progress, RateSampler, type ProgressReport } from './progress.ts';
import { listFailedRecords, type FailedRecordView } from './failed-records.ts';
import { readProgressSamples, type ProgressSample } from './progress-recorder.ts';
import { formatBytes, SLOT_WAL_ATTENTION_BYTES } from './migration-status.ts';
import type { Config } from '../runtime/config.ts';

export interface ReportOptions {
  slotName: string;
  publicationName: string;
  verifyIntervalSeconds: number;
  errorRateThreshold: number;
  cutoverMaxLagSeconds: number;
  /** retained WAL above this is not "within limits" (the alert's 2 GiB) */
  maxRetainedWalBytes: number;
}

/** The report's thresholds from the configuration. */
export function reportOptions(config: Config): ReportOptions {
  return {
    slotName: config.slotName,
    publicationName: config.publicationName,
    verifyIntervalSeconds: config.verify.intervalSeconds,
    errorRateThreshold: config.errorRate.threshold,
    cutoverMaxLagSeconds: config.cutoverMaxLagSeconds,
    maxRetainedWalBytes: SLOT_WAL_ATTENTION_BYTES,
  };
}

export interface CriterionResult {
  guide: string;
  section: string;
  item: string;
  ok: boolean;
  evidence: string;
}

export interface JuntaCapitalRow {
  juntaId: string;
  nombre: string | null;
  currentCapital: string;
  availableCapital: string;
  calculatedAvailable: string;
  calculatedCurrent: string;
  availableMinusCurrent: string;
  interestPaidMinusOutstanding: string;
  ok: boolean;
}

export interface AuditLine {
  at: string;
  actor: string;
  action: string;
  outcome: string;
  params: unknown;
}

export interface MigrationReportData {
  generatedAt: string;
  database: string;
  criteria: CriterionResult[];
  consistency: { source: string; checkedAt: string; report: ConsistencyReport };
  verify: VerifyReport;
  progress: ProgressReport;
  juntas: { total: number; shown: JuntaCapitalRow[] };
  movements: { type: string; direction: string; count: number; amount: string }[];
  failedRecords: { count: number; records: FailedRecordView[] };
  repairs: { total: number; recent: AuditLine[] };
  cutovers: AuditLine[];
  deadlocks: number;
  samples: ProgressSample[];
}

const JUNTAS_SHOWN = 50;

export async function buildMigrationReport(pool: pg.Pool, options: ReportOptions): Promise<MigrationReportData> {
  const v = await verify(pool, { slotName: options.slotName, publicationName: options.publicationName, limit: 20 });
  const p = await progress({ pool, sampler: new RateSampler(), errorRateThreshold: options.errorRateThreshold });
  const c = await consistencyForReport(pool, options.verifyIntervalSeconds);
  const db = (await pool.query<{ db: string; deadlocks: string }>(`SELECT current_database() AS db, coalesce((SELECT deadlocks FROM pg_stat_database WHERE datname = current_database()), 0)::text AS deadlocks`)).rows[0]!;
  const juntas = await juntaCapital(pool);
  const movements = (
    await pool.query<{ type: string; direction: string; n: string; amount: string }>(
      `SELECT type, direction, count(*)::text AS n, sum(amount)::numeric(16,2)::text AS amount FROM capital_movements GROUP BY 1, 2 ORDER BY 1, 2`,
    )
  ).rows.map((x) => ({ type: x.type, direction: x.direction, count: Number(x.n), amount: x.amount }));
  const constraints = (
    await pool.query<{ checks: string; bad_amounts: string }>(
      `SELECT (SELECT count(*) FROM pg_constraint WHERE conrelid = 'capital_movements'::regclass AND contype = 'c' AND convalidated)::text AS checks,
              (SELECT count(*) FROM capital_movements WHERE amount <= 0 OR type NOT IN ('PRESTAMO', 'PAGO', 'ACCION', 'MULTA') OR direction NOT IN ('IN', 'OUT'))::text AS bad_amounts`,
    )
  ).rows[0]!;
  const failedRecords = await listFailedRecords(pool, { status: 'open', limit: 10, beforeId: null });
  const audit = async (where: string, limit: number) =>
    (
      await pool.query<{ at: string; actor: string; action: string; outcome: string; params: unknown }>(
        `SELECT at::text, actor, action, outcome, params FROM prestamos_cdc.audit_log WHERE ${where} ORDER BY id DESC LIMIT ${limit}`,
      )
    ).rows;
  const repairCount = Number((await pool.query<{ n: string }>(`SELECT count(*)::text AS n FROM prestamos_cdc.audit_log WHERE action = 'verification.repair' AND status = 200`)).rows[0]!.n);
  const data: Omit<MigrationReportData, 'criteria'> = {
    generatedAt: new Date().toISOString(),
    database: db.db,
    consistency: c,
    verify: v,
    progress: p,
    juntas,
    movements,
    failedRecords,
    repairs: { total: repairCount, recent: await audit(`action = 'verification.repair'`, 10) },
    cutovers: await audit(`action = 'migration.cutover' AND status = 200`, 20),
    deadlocks: Number(db.deadlocks),
    samples: await readProgressSamples(pool),
  };
  return { ...data, criteria: evaluateCriteria(data, { checks: Number(constraints.checks), badRows: Number(constraints.bad_amounts) }, options) };
}

async function consistencyForReport(pool: pg.Pool, intervalSeconds: number): Promise<MigrationReportData['consistency']> {
  const latest = await readLatestVerification(pool);
  if (latest && latest.cycleComplete && Date.now() - Date.parse(latest.checkedAt) <= 3 * intervalSeconds * 1000) {
    return { source: `the background verification (${latest.source}) of ${latest.checkedAt}`, checkedAt: latest.checkedAt, report: latest.report };
  }
  const report = await consistency(pool, { limit: 20 });
  return { source: 'a whole-database check run for this report', checkedAt: report.checkedAt, report };
}

async function juntaCapital(pool: pg.Pool): Promise<MigrationReportData['juntas']> {
  const r = await pool.query<{ total: string; rows: JuntaCapitalRow[] }>(
    `WITH c AS MATERIALIZED (SELECT * FROM prestamos_cdc.junta_capital_check)
     SELECT (SELECT count(*) FROM c)::text AS total,
            (SELECT coalesce(json_agg(z ORDER BY z.ok, z.nombre, z."juntaId"), '[]') FROM (
               SELECT junta_id AS "juntaId", nombre, current_capital::text AS "currentCapital", available_capital::text AS "availableCapital",
                      calculated_available::text AS "calculatedAvailable", calculated_current::text AS "calculatedCurrent",
                      capital_difference::text AS "availableMinusCurrent", loans_difference::text AS "interestPaidMinusOutstanding",
                      abs(available_capital - calculated_available) <= 0.01 AND abs(current_capital - calculated_current) <= 0.01
                        AND abs(capital_difference - loans_difference) <= 0.01 AS ok
                 FROM c ORDER BY ok, nombre, junta_id LIMIT $1) z) AS rows`,
    [JUNTAS_SHOWN],
  );
  return { total: Number(r.rows[0]!.total), shown: r.rows[0]!.rows };
}

const pct = (n: number) => `${n} %`;

/** Each item of the guides, ticked or not with its evidence (pure: from the data gathered above). */
export function evaluateCriteria(d: Omit<MigrationReportData, 'criteria'>, constraints: { checks: number; badRows: number }, options: ReportOptions): CriterionResult[] {
  const c = d.consistency.report;
  const v = d.verify;
  const p = d.progress;
  const present = (names: RegExp) => v.objects.filter((x) => names.test(x.name));
  const shadow = present(/^table ("PrestamoNew"|"PagoPrestamoNew"|capital_movements)$/);
  const columns = present(/^column/);
  const trigger = present(/trigger|function/);
  const counts = v.counts;
  const missing = (v.missing?.loans.count ?? 0) + (v.missing?.payments.count ?? 0);
  const extra = (v.extra?.loans.count ?? 0) + (v.extra?.payments.count ?? 0);
  const rel = c.relationships;
  const relOk = rel.orphanPayments.count === 0 && rel.loansOfUnknownJunta.count === 0 && rel.movements.ofUnknownJunta === 0 && rel.paymentsWithoutSplit === 0;
  const relEvidence = `${rel.orphanPayments.count} payments without their loan, ${rel.loansOfUnknownJunta.count} loans of an unknown junta, ${rel.movements.ofUnknownJunta} movements of an unknown junta, ${rel.paymentsWithoutSplit} payments without a split`;
  const capitalOk = c.capital.discrepancies === 0;
  const capitalEvidence = `${c.capital.juntas} juntas: ${c.capital.discrepancies} whose available or current capital differs from the ledger or whose cross-check (available − current = Σ interest_paid − Σ outstanding_principal) breaks`;
  const lag = p.lag.seconds;
  const lagOk = lag !== null && lag <= options.cutoverMaxLagSeconds;
  const errorOk = p.errorRate.ratio === null || p.errorRate.ratio <= options.errorRateThreshold;
  const remaining = p.totals.remaining;
  const walOk = v.slot.exists ? v.slot.retainedWalBytes <= options.maxRetainedWalBytes && v.slot.walStatus !== 'lost' : p.phase === 'cut over';
  const G0 = '000 production migration';
  const G1 = '001 prestamos shadow tables';
  return [
    { guide: G0, section: 'Success criteria · 1. Data verification', item: 'All shadow tables created successfully', ok: shadow.length === 3 && shadow.every((x) => x.present), evidence: shadow.map((x) => `${x.name}: ${x.present ? 'present' : 'MISSING'}`).join('; ') },
    { guide: G0, section: 'Success criteria · 1. Data verification', item: 'Capital tracking columns added', ok: columns.length === 3 && columns.every((x) => x.present), evidence: columns.map((x) => `${x.name}: ${x.present ? 'present' : 'MISSING'}`).join('; ') },
    {
      guide: G0,
      section: 'Success criteria · 1. Data verification',
      item: 'Existing data preserved',
      ok: counts !== null && missing === 0 && extra === 0 && counts.expected.PrestamoNew === counts.new.PrestamoNew && counts.expected.PagoPrestamoNew === counts.new.PagoPrestamoNew,
      evidence: counts
        ? `legacy: ${counts.legacy.Prestamo} loans, ${counts.legacy.PagoPrestamo} payments, ${counts.legacy.Accion} shares, ${counts.legacy.Multa} fines, ${counts.legacy.Junta} juntas; new: ${counts.new.PrestamoNew} loans (expected ${counts.expected.PrestamoNew}), ${counts.new.PagoPrestamoNew} payments (expected ${counts.expected.PagoPrestamoNew}); ${missing} missing, ${extra} extra, ${counts.rolledBackLoans} rolled back; the legacy rows are never written by the migration`
        : 'the migration objects are not installed',
    },
    { guide: G0, section: 'Success criteria · 1. Data verification', item: 'Relationships maintained', ok: relOk, evidence: relEvidence },
    { guide: G0, section: 'Success criteria · 2. Functionality verification', item: 'Capital calculations working', ok: capitalOk, evidence: capitalEvidence },
    {
      guide: G0,
      section: 'Success criteria · 2. Functionality verification',
      item: 'Triggers functioning',
      ok: trigger.every((x) => x.present) && capitalOk && c.ledger.mismatched === 0,
      evidence: `${trigger.map((x) => `${x.name}: ${x.present ? 'present' : 'MISSING'}`).join('; ')}; ${d.movements.reduce((a, m) => a + m.count, 0)} movements, every junta's capital columns equal to its movements: ${capitalOk ? 'yes' : 'no'}`,
    },
    {
      guide: G0,
      section: 'Success criteria · 2. Functionality verification',
      item: 'Constraints enforced',
      ok: constraints.checks >= 3 && constraints.badRows === 0,
      evidence: `${constraints.checks} validated CHECK constraints on capital_movements (amount > 0, type, direction, source row); ${constraints.badRows} rows outside them`,
    },
    {
      guide: G0,
      section: 'Success criteria · 2. Functionality verification',
      item: 'Business rules maintained',
      ok: c.paymentTotals.percent === 100 && c.statusConsistency.percent === 100 && c.ledger.mismatched === 0 && c.dataMatching.percent === 100,
      evidence: `derivations (status map, interest split, loan aggregates, ledger worth) recomputed in SQL from the legacy rows: data matching ${pct(c.dataMatching.percent)}, payment totals ${pct(c.paymentTotals.percent)}, status ${pct(c.statusConsistency.percent)}, ${c.ledger.mismatched} ledger rows off`,
    },
    { guide: G0, section: 'Success criteria · 3. Performance verification', item: 'Query performance acceptable', ok: lagOk, evidence: `end-to-end lag ${lag === null ? 'unknown (no sync running)' : `${lag.toFixed(2)} s`} (cutover limit ${options.cutoverMaxLagSeconds} s); ${sampledMaxLag(d.samples)}` },
    { guide: G0, section: 'Success criteria · 3. Performance verification', item: 'No deadlocks or blocking', ok: d.deadlocks === 0, evidence: `${d.deadlocks} deadlocks in database ${d.database} since its statistics were reset (pg_stat_database; any client counts)` },
    { guide: G0, section: 'Success criteria · 3. Performance verification', item: 'System response time normal', ok: lagOk && !p.paused.paused && !p.throttled.active, evidence: `apply ${p.paused.paused ? `paused: ${p.paused.reason}` : 'not paused'}, ${p.throttled.active ? 'throttled' : 'not throttled'}, ${p.lag.syncsRunning} sync(s) running` },
    { guide: G0, section: 'Success criteria · 3. Performance verification', item: 'Resource usage within limits', ok: walOk, evidence: v.slot.exists ? `slot ${v.slot.name} retains ${formatBytes(v.slot.retainedWalBytes)} of WAL (limit ${formatBytes(options.maxRetainedWalBytes)}), wal_status ${v.slot.walStatus ?? '-'}` : `slot ${v.slot.name} does not exist` },
    { guide: G0, section: 'Post-migration tasks · 1. Verification', item: 'Verify capital consistency (every junta\'s current and available capital)', ok: capitalOk, evidence: `${d.juntas.total} juntas, ${d.juntas.shown.filter((j) => !j.ok).length} of the ${d.juntas.shown.length} listed below off; ${capitalEvidence}` },
    { guide: G0, section: 'Post-migration tasks · 1. Verification', item: 'Verify movement tracking (count of capital_movements)', ok: c.ledger.mismatched === 0, evidence: `${d.movements.reduce((a, m) => a + m.count, 0)} movements (${d.movements.map((m) => `${m.type} ${m.direction} ${m.count}`).join(', ') || 'none'}); every legacy row's movements add up to its worth: ${c.ledger.mismatched === 0 ? 'yes' : `no, ${c.ledger.mismatched} rows off`}` },
    { guide: G1, section: 'Post-migration verification checklist', item: 'All records migrated', ok: remaining === 0 && missing === 0, evidence: `${p.totals.migrated} of ${p.totals.total} rows migrated (${pct(p.totals.percent)}), ${remaining} remaining, ${missing} missing` },
    { guide: G1, section: 'Post-migration verification checklist', item: 'Data consistency verified', ok: c.consistent, evidence: `data matching ${pct(c.dataMatching.percent)} (${c.dataMatching.matching} of ${c.dataMatching.total - c.dataMatching.inFlight} settled rows, ${c.dataMatching.inFlight} in flight), from ${d.consistency.source}` },
    { guide: G1, section: 'Post-migration verification checklist', item: 'Payment totals match', ok: c.paymentTotals.percent === 100 && c.paymentTotals.expected.totalPaid === c.paymentTotals.new.totalPaid, evidence: `total paid expected ${c.paymentTotals.expected.totalPaid}, new ${c.paymentTotals.new.totalPaid}; interest expected ${c.paymentTotals.expected.interestPaid}, new ${c.paymentTotals.new.interestPaid}; loans with exact totals ${pct(c.paymentTotals.percent)}` },
    { guide: G1, section: 'Post-migration verification checklist', item: 'Status fields correct', ok: c.statusConsistency.percent === 100, evidence: `${pct(c.statusConsistency.percent)}; ${c.statusConsistency.byStatus.map((s) => `${s.status} ${s.expected}/${s.new}`).join(', ')}` },
    { guide: G1, section: 'Post-migration verification checklist', item: 'Relationships maintained', ok: relOk, evidence: relEvidence },
    {
      guide: G1,
      section: 'Post-migration verification checklist',
      item: 'System functionality normal',
      ok: errorOk && d.failedRecords.count === 0 && !p.paused.paused && p.lag.syncsRunning > 0,
      evidence: `error rate ${p.errorRate.ratio === null ? '-' : `${(p.errorRate.ratio * 100).toFixed(3)} %`} against the 1 % rollback rule (threshold ${(options.errorRateThreshold * 100).toFixed(2)} %); ${d.failedRecords.count} failed records open; ${d.repairs.total} self-repairs; ${p.lag.syncsRunning} sync(s) running`,
    },
  ];
}

function sampledMaxLag(samples: ProgressSample[]): string {
  const lags = samples.map((s) => s.lagSeconds).filter((x): x is number => x !== null);
  return lags.length ? `highest sampled lag over the run ${Math.max(...lags).toFixed(2)} s (${lags.length} samples)` : 'no lag samples yet';
}
