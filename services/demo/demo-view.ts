// What the demo prints: the snapshot's progress bar, the one-line live consistency summary and the final
// verdict, as plain strings from the reports of the reconciler (progress.ts, verification.ts). Pure
// functions: no I/O, so the wording is tested without a database.
import type { ProgressReport, TableProgress } from '../reconciler/progress.ts';
import type { ConsistencyReport, CheckSummary } from '../reconciler/verification.ts';

const LABEL: Record<TableProgress['table'], string> = { Prestamo: 'loans', PagoPrestamo: 'payments', Accion: 'shares', Multa: 'fines' };

/** 1234567 → "1,234,567" (counts only; never money). */
export function count(n: number): string {
  return Math.trunc(n).toLocaleString('en-US');
}

/** A percentage floored to two decimals, so that anything short of all shows below 100. */
export function percent(p: number): string {
  if (p >= 100) return '100%';
  return `${(Math.floor(p * 100) / 100).toFixed(2)}%`;
}

export function bar(fraction: number, width = 30): string {
  const f = Math.min(1, Math.max(0, fraction));
  const full = Math.floor(f * width);
  return `[${'#'.repeat(full)}${'-'.repeat(width - full)}]`;
}

function seconds(ms: number): string {
  return ms < 10_000 ? `${(ms / 1000).toFixed(1)} s` : `${Math.round(ms / 1000)} s`;
}

/** "snapshot [#####-----]  48.20%  loans 1,450/3,000 · payments 3,300/7,000 · … · ETA 3 s" */
export function snapshotLine(p: ProgressReport, extra: { paused?: string | null } = {}): string {
  const tables = p.tables.map((t) => `${LABEL[t.table]} ${count(Math.min(t.migrated, t.total - t.rolledBack))}/${count(t.total - t.rolledBack)}`).join(' · ');
  const eta = p.etaSeconds === null ? '' : ` · ETA ${p.etaSeconds} s`;
  const paused = extra.paused ? ` · PAUSED: ${extra.paused}` : p.paused.paused ? ` · PAUSED: ${p.paused.reason ?? ''}` : '';
  return `snapshot ${bar(p.totals.percent / 100)} ${percent(p.totals.percent).padStart(7)}  ${tables}${eta}${paused}`;
}

/** The bar once every first-load snapshot request has been applied. */
export function snapshotDoneLine(p: ProgressReport, elapsedMs: number): string {
  const tables = p.tables.map((t) => `${count(t.migrated)} ${LABEL[t.table]}`).join(', ');
  return `snapshot ${bar(1)}    done  ${tables} in the new tables after ${seconds(elapsedMs)}`;
}

function check(name: string, c: CheckSummary): string {
  const parts = [`${count(c.matching)} match`];
  if (c.mismatched) parts.push(`${count(c.mismatched)} MISMATCHED`);
  if (c.inFlight) parts.push(`${count(c.inFlight)} in flight`);
  return `${name} ${percent(c.percent)} (${parts.join(', ')})`;
}

export interface LiveFigures {
  /** end-to-end lag of the sync, seconds */
  lagSeconds: number | null;
  /** changes applied by the sync since it started */
  applied: number;
  /** transactions the application writer has committed */
  writes: number;
  /** the sync's pause reason, if paused */
  paused: string | null;
}

/** "12:00:05  loans 100% (3,012 match, 3 in flight) · payments 100% (…) · ledger ok · juntas' capital ok 60/60 · lag 85 ms · …" */
export function summaryLine(r: ConsistencyReport, live: LiveFigures, at: Date = new Date()): string {
  const time = at.toISOString().slice(11, 19);
  const ledger = r.ledger.mismatched ? `ledger ${count(r.ledger.mismatched)} MISMATCHED` : 'ledger ok';
  const capitalOk = r.capital.juntas - r.capital.discrepancies;
  const capital = r.capital.discrepancies ? `juntas' capital ${count(r.capital.discrepancies)} MISMATCHED of ${count(r.capital.juntas)}` : `juntas' capital ok ${count(capitalOk)}/${count(r.capital.juntas)}`;
  const orphans = r.relationships.orphanPayments.count ? ` · ${count(r.relationships.orphanPayments.count)} ORPHAN payments` : '';
  const lag = live.lagSeconds === null ? 'lag ?' : `lag ${count(Math.round(live.lagSeconds * 1000))} ms`;
  const paused = live.paused ? ` · PAUSED: ${live.paused}` : '';
  return (
    `${time}  ${check('loans', r.dataMatching.loans)} · ${check('payments', r.dataMatching.payments)} · ${ledger} · ${capital}${orphans}` +
    ` · ${lag} · applied ${count(live.applied)} changes · app wrote ${count(live.writes)} tx${paused}`
  );
}

export type Verdict = 'consistent' | 'mismatch' | 'not verified';

export function verdictOf(r: ConsistencyReport): Verdict {
  if (!r.consistent) return 'mismatch';
  if (r.dataMatching.inFlight > 0 || r.ledger.inFlight > 0) return 'not verified';
  return 'consistent';
}

/** The final verdict: one line, then (on a mismatch) the first differing rows field by field. */
export function verdictLines(r: ConsistencyReport): string[] {
  const v = verdictOf(r);
  const loans = r.dataMatching.loans;
  const pays = r.dataMatching.payments;
  if (v === 'consistent') {
    return [
      `verdict: CONSISTENT — ${count(loans.matching)} loans, ${count(pays.matching)} payments, ${count(r.relationships.movements.total)} ledger movements ` +
        `and the capital of ${count(r.capital.juntas)} juntas are exactly what the legacy rows imply (100%)`,
    ];
  }
  if (v === 'not verified') {
    return [
      `verdict: NOT VERIFIED — no mismatch, but ${count(r.dataMatching.inFlight + r.ledger.inFlight)} rows were still in flight after the pipeline caught up`,
    ];
  }
  const lines = [
    `verdict: MISMATCH — loans ${percent(loans.percent)} (${count(loans.mismatched)} differ), payments ${percent(pays.percent)} (${count(pays.mismatched)} differ), ` +
      `ledger rows differing: ${count(r.ledger.mismatched)}, juntas whose capital differs: ${count(r.capital.discrepancies)}, orphan payments: ${count(r.relationships.orphanPayments.count)}`,
  ];
  for (const [kind, list] of [['loan', r.mismatches.loans], ['payment', r.mismatches.payments]] as const) {
    for (const m of list.slice(0, 5)) {
      const fields = m.fields.map((f) => `${f.field}: legacy ${f.legacy ?? 'null'}, expected ${f.expected ?? 'null'}, new ${f.new ?? 'null'}`).join('; ');
      lines.push(`  ${kind} ${m.id} ${m.problem}${fields ? ` — ${fields}` : ''}`);
    }
  }
  for (const l of r.ledger.first.slice(0, 5)) lines.push(`  ledger ${l.type} ${l.rowId} (junta ${l.juntaId}): expected ${l.expectedWorth}, ledger ${l.ledgerWorth}`);
  for (const c of r.capital.first.slice(0, 5)) lines.push(`  junta ${c.juntaId}: available ${c.availableCapital} (calculated ${c.calculatedAvailable}), current ${c.currentCapital} (calculated ${c.calculatedCurrent})`);
  return lines;
}
