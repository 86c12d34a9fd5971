import { describe, expect, it } from 'vitest';
import { ledgerCorrections, loanWorth, paymentWorth, accionWorth, multaWorth } from '../../../services/domain/ledger.ts';

const sums = (entries: [string, bigint][]) => new Map(entries);

describe('what a legacy row is worth', () => {
  it('follows SPEC §3 for every kind of row', () => {
    expect(loanWorth({ juntaId: 'j', principal: 1000n, disbursed: true })).toEqual({ juntaId: 'j', cents: -1000n });
    expect(loanWorth({ juntaId: 'j', principal: 1000n, disbursed: false })).toBeNull();
    expect(paymentWorth({ amount: 500n, voided: false }, 'j')).toEqual({ juntaId: 'j', cents: 500n });
    expect(paymentWorth({ amount: 500n, voided: true }, 'j')).toBeNull();
    expect(paymentWorth({ amount: 500n, voided: false }, null)).toBeNull();
    expect(accionWorth({ juntaId: 'j', cantidad: 3, valorUnitario: 2500n, affectsCapital: true })).toEqual({ juntaId: 'j', cents: 7500n });
    expect(accionWorth({ juntaId: 'j', cantidad: 3, valorUnitario: 2500n, affectsCapital: false })).toBeNull();
    expect(multaWorth({ juntaId: 'j', monto: 900n, pagada: true, affectsCapital: true })).toEqual({ juntaId: 'j', cents: 900n });
    expect(multaWorth({ juntaId: 'j', monto: 900n, pagada: false, affectsCapital: true })).toBeNull();
    expect(multaWorth({ juntaId: 'j', monto: 900n, pagada: true, affectsCapital: false })).toBeNull();
  });
});

describe('ledger corrections', () => {
  const loan = { type: 'PRESTAMO' as const, rowId: 'p1' };
  it('enters a new worth, adjusts a changed one and reverses a vanished one', () => {
    const entered = ledgerCorrections(loan, { juntaId: 'a', cents: -1000n }, sums([]));
    expect(entered.map((m) => [m.juntaId, m.direction, m.amount, m.prestamoId])).toEqual([['a', 'OUT', 1000n, 'p1']]);
    const adjusted = ledgerCorrections(loan, { juntaId: 'a', cents: -1200n }, sums([['a', -1000n]]));
    expect(adjusted.map((m) => [m.direction, m.amount])).toEqual([['OUT', 200n]]);
    const reversed = ledgerCorrections(loan, null, sums([['a', -1200n]]));
    expect(reversed.map((m) => [m.direction, m.amount])).toEqual([['IN', 1200n]]);
    expect(reversed[0]!.description).toMatch(/reversed/);
  });

  it('appends nothing when the ledger already says what the row is worth (replay)', () => {
    expect(ledgerCorrections(loan, { juntaId: 'a', cents: -1000n }, sums([['a', -1000n]]))).toEqual([]);
    expect(ledgerCorrections(loan, null, sums([['a', 0n]]))).toEqual([]);
  });

  it('moves a row between juntas: reversal in the old one, entry in the new one', () => {
    const pago = { type: 'PAGO' as const, rowId: 'g1', prestamoId: 'p1' };
    const moved = ledgerCorrections(pago, { juntaId: 'b', cents: 500n }, sums([['a', 500n]]));
    expect(moved.map((m) => [m.juntaId, m.direction, m.amount, m.pagoId, m.prestamoId])).toEqual([
      ['a', 'OUT', 500n, 'g1', 'p1'],
      ['b', 'IN', 500n, 'g1', 'p1'],
    ]);
  });

  it('never produces a zero or negative amount', () => {
    const cases: [bigint, bigint][] = [[-5n, 3n], [7n, -2n], [0n, 9n], [4n, 0n]];
    for (const [desired, current] of cases) {
      const ms = ledgerCorrections(loan, desired === 0n ? null : { juntaId: 'a', cents: desired }, sums([['a', current]]));
      for (const m of ms) expect(m.amount > 0n).toBe(true);
      const net = ms.reduce((s: bigint, m) => s + (m.direction === 'IN' ? m.amount : -m.amount), current);
      expect(net).toBe(desired);
    }
  });
});
