// `prestamos-cdc status`: where the migration stands, on one screen, read straight from the database
// (so it works wherever the pipeline runs): phase, per-table progress, lag, paused or throttled and
// why, failed records, the last verification and its age, the WAL the slot retains — and the list of
// what needs attention, which makes the command exit non-zero.
import type pg from 'pg';
import { progress, RateSampler, type ProgressReport } from './progress.ts';
import { readLatestVerification, type VerificationResult } from './background-verifier.ts';
import { slotStatus, type SlotStatus } from '../../connectors/postgres/replication-setup.ts';
import { readPipeline } from '../runtime/control-plane.ts';

/** Retained WAL above which the slot needs attention (the PrestamosCdcSlotRetainedWalHigh alert's 2 GiB). */
export const SLOT_WAL_ATTENTION_BYTES = 2 * 1024 ** 3;

export interface StatusOptions {
  slotName: string;
  /** lag above this needs attention (THROTTLE_LAG_SECONDS) */
  maxLagSeconds: number;
  /** a verification older than three intervals is stale (VERIFY_INTERVAL_SECONDS) */
  verifyIntervalSeconds: number;
  errorRateThreshold: number;
  /** retained WAL above this needs attention (the alert's 2 GiB) */
  maxRetainedWalBytes: number;
}

export interface MigrationStatus {
  at: string;
  progress: ProgressReport;
  slot: SlotStatus & { name: string };
  verification: (Pick<VerificationResult, 'checkedAt' | 'source' | 'cycleComplete' | 'coverage' | 'durationMs'> & { ageSeconds: number; consistent: boolean; dataMatchingPercent: number; capitalDiscrepancies: number; repairCandidates: number }) | null;
  repairs: { total: number; last: string | null };
  /** what an operator must look at; empty when all is well */
  attention: string[];
}

export async function readMigrationStatus(pool: pg.Pool, options: StatusOptions): Promise<MigrationStatus> {
  const p = await progress({ pool, sampler: new RateSampler(), errorRateThreshold: options.errorRateThreshold });
  const pipeline = p.pipeline ? await readPipeline(pool) : null;
  const slotName = pipeline?.slotName ?? options.slotName;
  const slot = { name: slotName, ...(await slotStatus(pool, slotName)) };
  const latest = await readLatestVerification(pool);
  const now = Date.now();
  const verification = latest
    ? {
        checkedAt: latest.checkedAt,
        ageSeconds: Math.max(0, Math.round((now - Date.parse(latest.checkedAt)) / 1000)),
        source: latest.source,
        cycleComplete: latest.cycleComplete,
        coverage: latest.coverage,
        durationMs: latest.durationMs,
        consistent: latest.report.consistent,
        dataMatchingPercent: latest.report.dataMatching.percent,
        capitalDiscrepancies: latest.report.capital.discrepancies,
        repairCandidates: latest.repair.candidateCount,
      }
    : null;
  const repairs = await readRepairs(pool);
  return { at: new Date(now).toISOString(), progress: p, slot, verification, repairs, attention: attentionOf(p, slot, verification, options) };
}

async function readRepairs(pool: pg.Pool): Promise<MigrationStatus['repairs']> {
  try {
    const r = await pool.query<{ n: string; last: string | null }>(`SELECT count(*)::text AS n, max(at)::text AS last FROM prestamos_cdc.audit_log WHERE action = 'verification.repair' AND status = 200`);
    return { total: Number(r.rows[0]!.n), last: r.rows[0]!.last };
  } catch (err) {
    if ((err as { code?: string }).code === '42P01' || (err as { code?: string }).code === '3F000') return { total: 0, last: null };
    throw err;
  }
}

/** The rule of "needs attention" (pure). */
export function attentionOf(p: ProgressReport, slot: MigrationStatus['slot'], v: MigrationStatus['verification'], options: StatusOptions): string[] {
  const out: string[] = [];
  if (p.phase === 'not started') return ['the migration has not started (POST /prestamos/migration/start)'];
  if (p.paused.paused) out.push(`the apply is paused: ${p.paused.reason ?? 'no reason given'}`);
  if (p.lag.syncsRunning === 0) out.push('no sync is running');
  if (p.lag.seconds !== null && p.lag.seconds > options.maxLagSeconds) out.push(`end-to-end lag ${p.lag.seconds.toFixed(1)} s is above ${options.maxLagSeconds} s`);
  if (p.errorRate.ratio !== null && p.errorRate.ratio > options.errorRateThreshold) out.push(`error rate ${(p.errorRate.ratio * 100).toFixed(2)} % is above the ${(options.errorRateThreshold * 100).toFixed(2)} % rollback threshold`);
  if (p.failedRecordsOpen > 0) out.push(`${p.failedRecordsOpen} failed record(s) open (GET /prestamos/migration/failed)`);
  if (p.pipeline) {
    if (!slot.exists) out.push(`replication slot "${slot.name}" does not exist`);
    else if (slot.walStatus === 'lost') out.push(`replication slot "${slot.name}" lost WAL it needed: re-sync required`);
    else if (slot.retainedWalBytes > options.maxRetainedWalBytes) out.push(`replication slot "${slot.name}" retains ${formatBytes(slot.retainedWalBytes)} of WAL`);
  }
  if (!v) out.push('no verification result yet (is a reconciler running?)');
  else {
    if (v.ageSeconds > 3 * options.verifyIntervalSeconds) out.push(`the last verification is ${v.ageSeconds} s old (interval ${options.verifyIntervalSeconds} s): is a reconciler running?`);
    if (!v.consistent) out.push(`the last verification found mismatches (data matching ${v.dataMatchingPercent} %, ${v.capitalDiscrepancies} junta(s) with a capital discrepancy)`);
    if (v.repairCandidates > 0) out.push(`${v.repairCandidates} row(s) wrong twice in a row and not repaired`);
  }
  return out;
}

export function formatBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  let x = n;
  while (x >= 1024 && i < units.length - 1) {
    x /= 1024;
    i++;
  }
  return `${i === 0 ? x : x.toFixed(1)} ${units[i]}`;
}

/** The one-screen text of `prestamos-cdc status`. */
export function renderStatus(s: MigrationStatus): string {
  const p = s.progress;
  const lines: string[] = [];
  lines.push(`prestamos-cdc status at ${s.at}`);
  lines.push(`phase            ${p.phase}${p.readsFrom ? ` (reads from the ${p.readsFrom} tables)` : ''}`);
  lines.push('');
  lines.push(`table            ${'total'.padStart(10)} ${'migrated'.padStart(10)} ${'failed'.padStart(7)} ${'remaining'.padStart(10)}  done`);
  for (const t of p.tables) lines.push(`${t.table.padEnd(16)} ${String(t.total).padStart(10)} ${String(t.migrated).padStart(10)} ${String(t.failed).padStart(7)} ${String(t.remaining).padStart(10)}  ${t.percent} %`);
  lines.push('');
  lines.push(`lag              ${p.lag.seconds === null ? 'unknown (no sync running)' : `${p.lag.seconds.toFixed(2)} s`}; ${p.lag.syncsRunning} sync(s), ${p.lag.capturesRunning} capture(s)`);
  lines.push(`rate             ${p.rate.rowsPerSecond ?? '-'} rows/s${p.etaSeconds !== null ? `, ETA ${p.etaSeconds} s` : ''}`);
  lines.push(`paused           ${p.paused.paused ? `yes: ${p.paused.reason ?? ''}` : 'no'}`);
  lines.push(`throttled        ${p.throttled.active ? [p.throttled.snapshot && `snapshot: ${p.throttled.snapshot}`, ...p.throttled.apply.map((a) => `apply ${a.instance}: ${a.reason}`)].filter(Boolean).join('; ') : 'no'}`);
  lines.push(`error rate       ${p.errorRate.ratio === null ? '-' : `${(p.errorRate.ratio * 100).toFixed(2)} %`} (threshold ${(p.errorRate.threshold * 100).toFixed(2)} %)`);
  lines.push(`failed records   ${p.failedRecordsOpen} open`);
  const v = s.verification;
  lines.push(
    `verification     ${v ? `${v.consistent ? 'consistent' : 'MISMATCHES'} — data matching ${v.dataMatchingPercent} %, ${v.capitalDiscrepancies} capital discrepancies; ${v.ageSeconds} s ago (${v.source}, ${v.cycleComplete ? 'full cycle' : `coverage ${(v.coverage * 100).toFixed(1)} %`}, ${v.durationMs} ms)` : 'none yet'}`,
  );
  lines.push(`repairs          ${s.repairs.total}${s.repairs.last ? ` (last ${s.repairs.last})` : ''}${v && v.repairCandidates ? `; ${v.repairCandidates} candidate(s) not repaired` : ''}`);
  lines.push(`slot             ${s.slot.name}: ${s.slot.exists ? `${s.slot.active ? 'active' : 'inactive'}, retains ${formatBytes(s.slot.retainedWalBytes)} of WAL${s.slot.walStatus ? ` (wal_status ${s.slot.walStatus})` : ''}` : 'does not exist'}`);
  lines.push('');
  if (s.attention.length === 0) lines.push('OK: nothing needs attention');
  else {
    lines.push('NEEDS ATTENTION:');
    for (const a of s.attention) lines.push(`  - ${a}`);
  }
  return lines.join('\n');
}
