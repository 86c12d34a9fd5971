import { describe, expect, it } from 'vitest';
import { interestSplit, loanAggregates, mapLoanStatus, isDisbursed, pgDivisionScale, numericWeightAndFirstDigit, isEstado } from '../../../services/domain/derivations.ts';
import { formatCents } from '../../../services/domain/decimal.ts';

const split = (amount: bigint, rate4: bigint, n: number) => {
  const s = interestSplit(amount, rate4, n);
  return [formatCents(s.interest), formatCents(s.principal)];
};

describe('status map', () => {
  it('maps every legacy estado and nothing else', () => {
    expect(['PENDIENTE', 'APROBADO', 'DESEMBOLSADO', 'PAGADO', 'VENCIDO', 'CANCELADO'].map((e) => mapLoanStatus(e as never))).toEqual([
      'pending', 'approved', 'disbursed', 'paid', 'overdue', 'cancelled',
    ]);
    expect(isEstado('BOGUS')).toBe(false);
    expect(isEstado('toString')).toBe(false);
    expect(['disbursed', 'paid', 'overdue'].every((s) => isDisbursed(s as never))).toBe(true);
    expect(['pending', 'approved', 'cancelled'].some((s) => isDisbursed(s as never))).toBe(false);
  });
});

describe('interest split (flat rate, k = rate × installments)', () => {
  it('splits a payment into interest round(a·k/(1+k), 2) and principal', () => {
    // k = 0.025 × 12 = 0.3: interest = 130 × 0.3 / 1.3 = 30
    expect(split(13000n, 250n, 12)).toEqual(['30.00', '100.00']);
    // k = 0: no interest
    expect(split(10000n, 0n, 12)).toEqual(['0.00', '100.00']);
    expect(split(10000n, 250n, 0)).toEqual(['0.00', '100.00']);
    // 100 × 0.1/1.1 = 9.0909… -> 9.09
    expect(split(10000n, 1000n, 1)).toEqual(['9.09', '90.91']);
  });

  it('rounds ties away from zero, including for negative amounts', () => {
    // k = 1: interest = a/2. 0.01/2 = 0.005 -> 0.01 (half away from zero)
    expect(split(1n, 10000n, 1)).toEqual(['0.01', '0.00']);
    expect(split(-1n, 10000n, 1)).toEqual(['-0.01', '0.00']);
    expect(split(3n, 10000n, 1)).toEqual(['0.02', '0.01']);
  });

  it('computes the intermediate division at PostgreSQL\'s scale (select_div_scale)', () => {
    // 0.05 is one base-10000 digit 500 at weight -1
    expect(numericWeightAndFirstDigit(5n, 2)).toEqual({ weight: -1, firstDigit: 500 });
    expect(numericWeightAndFirstDigit(123456n, 1)).toEqual({ weight: 1, firstDigit: 1 });
    expect(numericWeightAndFirstDigit(0n, 6)).toEqual({ weight: 0, firstDigit: 0 });
    // 1/3: 16 significant digits minus the quotient weight
    expect(pgDivisionScale(1n, 0, 3n, 0)).toBe(20);
    expect(pgDivisionScale(1000000n, 6, 13000n, 4)).toBe(20);
    // a large quotient gets fewer decimals: 16 significant digits (PostgreSQL: 999999999999.000000 / 1.0001 has 8)
    expect(pgDivisionScale(999999999999n * 10n ** 6n, 6, 10001n, 4)).toBe(8);
    // never fewer than the operands' scales
    expect(pgDivisionScale(10n ** 30n, 6, 1n, 4)).toBe(6);
  });
});

describe('loan aggregates', () => {
  const pay = (amount: bigint, status: 'registered' | 'voided', paidAt: string, interest: bigint | null, principal: bigint | null) => ({ amount, status, paidAt, interest, principal });
  it('sums non-voided payments only, and outstanding counts only while disbursed', () => {
    const payments = [
      pay(13000n, 'registered', '2024-02-01T00:00:00.000000Z', 3000n, 10000n),
      pay(5000n, 'voided', '2024-05-01T00:00:00.000000Z', 1154n, 3846n),
      pay(2600n, 'registered', '2024-03-01T00:00:00.000000Z', 600n, 2000n),
    ];
    expect(loanAggregates(100000n, 'disbursed', payments)).toEqual({
      totalPaid: 15600n, principalPaid: 12000n, interestPaid: 3600n, outstandingPrincipal: 88000n, paymentsCount: 2, lastPaymentAt: '2024-03-01T00:00:00.000000Z',
    });
    // never disbursed: outstanding = 0 − principal paid (negative: an anomaly the reconciler reports)
    expect(loanAggregates(100000n, 'approved', payments).outstandingPrincipal).toBe(-12000n);
    expect(loanAggregates(100000n, 'paid', []).outstandingPrincipal).toBe(100000n);
    expect(loanAggregates(100000n, 'paid', []).lastPaymentAt).toBeNull();
  });
});
