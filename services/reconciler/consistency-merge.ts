// Consistency reports of disjoint slices (ranges of junta ids) merged into the report of their union:
// counts add up, percentages are recomputed from the sums, money sums add exactly (cents as BigInt),
// and the bounded lists are concatenated in slice order and cut to `limit`. Also cuts the lists of one
// report to a caller's `limit`. Pure functions: no database.
import { cents, formatCents } from '../domain/decimal.ts';
import { summary, type CheckSummary, type ConsistencyReport } from './verification.ts';

const addCents = (values: string[]) => formatCents(values.reduce((a, v) => a + cents(v), 0n));
const addInts = (values: string[]) => String(values.reduce((a, v) => a + BigInt(v), 0n));
const sum = <T>(parts: T[], of: (p: T) => number) => parts.reduce((a, p) => a + of(p), 0);

function mergeSummary(parts: CheckSummary[]): CheckSummary {
  return summary(sum(parts, (p) => p.total), sum(parts, (p) => p.mismatched), sum(parts, (p) => p.inFlight));
}

/** The report of the union of disjoint slices. `parts` in slice order; an empty list is an empty database. */
export function mergeConsistency(parts: ConsistencyReport[], limit: number): ConsistencyReport {
  const cut = <T>(lists: T[][]) => lists.flat().slice(0, limit);
  const checkedAt = parts.map((p) => p.checkedAt).sort()[0] ?? new Date().toISOString();
  const byStatus = new Map<string, { status: string; expected: number; new: number }>();
  for (const p of parts) {
    for (const s of p.statusConsistency.byStatus) {
      const m = byStatus.get(s.status) ?? { status: s.status, expected: 0, new: 0 };
      m.expected += s.expected;
      m.new += s.new;
      byStatus.set(s.status, m);
    }
  }
  const totalsOf = (side: 'expected' | 'new') => ({
    totalPaid: addCents(parts.map((p) => p.paymentTotals[side].totalPaid)),
    principalPaid: addCents(parts.map((p) => p.paymentTotals[side].principalPaid)),
    interestPaid: addCents(parts.map((p) => p.paymentTotals[side].interestPaid)),
    registeredPayments: addInts(parts.map((p) => p.paymentTotals[side].registeredPayments)),
  });
  const movements = (k: keyof ConsistencyReport['relationships']['movements']) => sum(parts, (p) => p.relationships.movements[k]);
  return {
    consistent: parts.every((p) => p.consistent),
    checkedAt,
    dataMatching: {
      ...mergeSummary(parts.map((p) => p.dataMatching)),
      loans: mergeSummary(parts.map((p) => p.dataMatching.loans)),
      payments: mergeSummary(parts.map((p) => p.dataMatching.payments)),
    },
    paymentTotals: { ...mergeSummary(parts.map((p) => p.paymentTotals)), expected: totalsOf('expected'), new: totalsOf('new') },
    statusConsistency: { ...mergeSummary(parts.map((p) => p.statusConsistency)), byStatus: [...byStatus.values()].sort((a, b) => (a.status < b.status ? -1 : a.status > b.status ? 1 : 0)) },
    relationships: {
      orphanPayments: {
        count: sum(parts, (p) => p.relationships.orphanPayments.count),
        ids: cut(parts.map((p) => p.relationships.orphanPayments.ids)),
        inFlight: sum(parts, (p) => p.relationships.orphanPayments.inFlight),
      },
      paymentsWithoutSplit: sum(parts, (p) => p.relationships.paymentsWithoutSplit),
      loansOfUnknownJunta: { count: sum(parts, (p) => p.relationships.loansOfUnknownJunta.count), ids: cut(parts.map((p) => p.relationships.loansOfUnknownJunta.ids)) },
      movements: { total: movements('total'), prestamo: movements('prestamo'), pago: movements('pago'), accion: movements('accion'), multa: movements('multa'), ofUnknownJunta: movements('ofUnknownJunta') },
    },
    ledger: { mismatched: sum(parts, (p) => p.ledger.mismatched), inFlight: sum(parts, (p) => p.ledger.inFlight), first: cut(parts.map((p) => p.ledger.first)) },
    capital: {
      juntas: sum(parts, (p) => p.capital.juntas),
      discrepancies: sum(parts, (p) => p.capital.discrepancies),
      first: cut(parts.map((p) => p.capital.first)),
      anomalies: {
        loansWithNegativeOutstanding: sum(parts, (p) => p.capital.anomalies.loansWithNegativeOutstanding),
        ids: cut(parts.map((p) => p.capital.anomalies.ids)),
      },
    },
    mismatches: { loans: cut(parts.map((p) => p.mismatches.loans)), payments: cut(parts.map((p) => p.mismatches.payments)) },
    inFlight: {
      total: sum(parts, (p) => p.inFlight.total),
      loans: cut(parts.map((p) => p.inFlight.loans)),
      payments: cut(parts.map((p) => p.inFlight.payments)),
      ledger: cut(parts.map((p) => p.inFlight.ledger)),
    },
  };
}

/** The same report with every bounded list cut to `limit` (counts unchanged). */
export function limitLists(report: ConsistencyReport, limit: number): ConsistencyReport {
  return mergeConsistency([report], limit);
}
