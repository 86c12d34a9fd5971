import { describe, expect, it } from 'vitest';
import { mergeConsistency, limitLists } from '../../../services/reconciler/consistency-merge.ts';
import { summary, type ConsistencyReport } from '../../../services/reconciler/verification.ts';

function part(o: { loans: [number, number, number]; payments: [number, number, number]; checkedAt: string; totalPaid: string; ids: string[]; consistent: boolean; juntas: number; discrepancies: number; status: { status: string; expected: number; new: number }[] }): ConsistencyReport {
  const loans = summary(...o.loans);
  const payments = summary(...o.payments);
  const both = summary(o.loans[0] + o.payments[0], o.loans[1] + o.payments[1], o.loans[2] + o.payments[2]);
  const totals = { totalPaid: o.totalPaid, principalPaid: '0.00', interestPaid: '0.01', registeredPayments: String(o.payments[0]) };
  return {
    consistent: o.consistent,
    checkedAt: o.checkedAt,
    dataMatching: { ...both, loans, payments },
    paymentTotals: { ...loans, expected: totals, new: totals },
    statusConsistency: { ...loans, byStatus: o.status },
    relationships: { orphanPayments: { count: 0, ids: [], inFlight: 0 }, paymentsWithoutSplit: 0, loansOfUnknownJunta: { count: 0, ids: [] }, movements: { total: 3, prestamo: 1, pago: 1, accion: 1, multa: 0, ofUnknownJunta: 0 } },
    ledger: { mismatched: 0, inFlight: 0, first: [] },
    capital: { juntas: o.juntas, discrepancies: o.discrepancies, first: [], anomalies: { loansWithNegativeOutstanding: 0, ids: [] } },
    mismatches: { loans: o.ids.map((id) => ({ id, problem: 'differs' as const, fields: [] })), payments: [] },
    inFlight: { total: o.loans[2] + o.payments[2], loans: [], payments: [], ledger: [] },
  };
}

describe('mergeConsistency', () => {
  const a = part({ loans: [100, 1, 2], payments: [300, 0, 0], checkedAt: '2026-01-01 10:00:05+00', totalPaid: '0.10', ids: ['a1'], consistent: false, juntas: 2, discrepancies: 0, status: [{ status: 'paid', expected: 60, new: 60 }] });
  const b = part({ loans: [50, 2, 0], payments: [100, 1, 0], checkedAt: '2026-01-01 10:00:01+00', totalPaid: '0.20', ids: ['b1', 'b2'], consistent: false, juntas: 3, discrepancies: 1, status: [{ status: 'approved', expected: 40, new: 40 }, { status: 'paid', expected: 10, new: 9 }] });

  it('adds the counts and recomputes the percentages from the sums', () => {
    const m = mergeConsistency([a, b], 200);
    expect(m.dataMatching.loans).toEqual({ total: 150, matching: 145, mismatched: 3, inFlight: 2, percent: 97.9729 });
    expect(m.dataMatching.payments).toEqual(summary(400, 1, 0));
    expect(m.dataMatching.total).toBe(550);
    expect(m.capital).toMatchObject({ juntas: 5, discrepancies: 1 });
    expect(m.relationships.movements.total).toBe(6);
    expect(m.consistent).toBe(false);
  });

  it('adds money exactly (0.10 + 0.20 is 0.30) and payments as integers', () => {
    const m = mergeConsistency([a, b], 200);
    expect(m.paymentTotals.expected).toEqual({ totalPaid: '0.30', principalPaid: '0.00', interestPaid: '0.02', registeredPayments: '400' });
  });

  it('merges statuses, keeps the oldest check time, and cuts the lists to the limit in slice order', () => {
    const m = mergeConsistency([a, b], 2);
    expect(m.statusConsistency.byStatus).toEqual([{ status: 'approved', expected: 40, new: 40 }, { status: 'paid', expected: 70, new: 69 }]);
    expect(m.checkedAt).toBe('2026-01-01 10:00:01+00');
    expect(m.mismatches.loans.map((x) => x.id)).toEqual(['a1', 'b1']);
  });

  it('is the identity on one report, apart from the lists cut by limitLists', () => {
    expect(mergeConsistency([b], 200)).toEqual(b);
    expect(limitLists(b, 1).mismatches.loans.map((x) => x.id)).toEqual(['b1']);
    expect(limitLists(b, 1).dataMatching).toEqual(b.dataMatching);
  });

  it('is consistent and empty for no slices', () => {
    const m = mergeConsistency([], 20);
    expect(m.consistent).toBe(true);
    expect(m.dataMatching).toMatchObject({ total: 0, percent: 100 });
  });
});
