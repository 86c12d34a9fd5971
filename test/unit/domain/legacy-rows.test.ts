import { describe, expect, it } from 'vitest';
import { parseLoanRow, parsePaymentRow, parseAccionRow, parseMultaRow, RowValidationError } from '../../../services/domain/legacy-rows.ts';

const loan = {
  id: 'p1', juntaId: 'j1', miembroId: 'm1', monto: '1000.00', tasaInteres: '0.0250', cuotas: 12, estado: 'DESEMBOLSADO',
  fechaDesembolso: '2024-01-01T10:00:00.000000Z', fechaVencimiento: null, observaciones: 'x',
  createdAt: '2024-01-01T10:00:00.000000Z', updatedAt: '2024-01-01T10:00:00.000000Z',
};

describe('legacy row validation', () => {
  it('types a valid loan row exactly', () => {
    const r = parseLoanRow(loan);
    expect(r).toMatchObject({ id: 'p1', principal: 100000n, rate4: 250n, installments: 12, status: 'disbursed', notes: 'x' });
  });

  it('keeps unchanged TOAST notes as unknown (undefined), never null', () => {
    const { observaciones: _omitted, ...rest } = loan;
    expect(parseLoanRow(rest, ['observaciones']).notes).toBeUndefined();
    expect(parseLoanRow({ ...loan, observaciones: null }).notes).toBeNull();
  });

  it('names the column and the problem for every bad value', () => {
    const bad: [Record<string, unknown>, RegExp][] = [
      [{ estado: 'BOGUS' }, /estado.*must be one of/],
      [{ monto: 1000 }, /monto.*decimal string/],
      [{ monto: '1000.001' }, /monto.*at most 2 decimals/],
      [{ monto: '10000000000.00' }, /monto.*exceeds numeric\(12,2\)/],
      [{ tasaInteres: '-0.01' }, /tasaInteres.*monthly rate/],
      [{ cuotas: -1 }, /cuotas.*integer from 0/],
      [{ cuotas: 1.5 }, /cuotas/],
      [{ id: '' }, /id.*non-empty/],
      [{ juntaId: 'x'.repeat(1001) }, /juntaId/],
      [{ fechaDesembolso: '2024-01-01' }, /fechaDesembolso.*ISO timestamp/],
      [{ createdAt: null }, /createdAt/],
    ];
    for (const [patch, message] of bad) {
      expect(() => parseLoanRow({ ...loan, ...patch } as never), JSON.stringify(patch)).toThrow(RowValidationError);
      expect(() => parseLoanRow({ ...loan, ...patch } as never)).toThrow(message);
    }
  });

  it('validates payments, shares and fines; affects_capital defaults to true when the column is not there yet', () => {
    expect(parsePaymentRow({ id: 'g', prestamoId: 'p', monto: '12.5', fecha: loan.createdAt, anulado: false, createdAt: loan.createdAt, updatedAt: loan.createdAt }).amount).toBe(1250n);
    expect(() => parsePaymentRow({ id: 'g', prestamoId: 'p', monto: '12.5', fecha: loan.createdAt, anulado: 'f', createdAt: loan.createdAt, updatedAt: loan.createdAt })).toThrow(/anulado.*boolean/);
    expect(parseAccionRow({ id: 'a', juntaId: 'j', cantidad: 3, valorUnitario: '25.00' })).toEqual({ id: 'a', juntaId: 'j', cantidad: 3, valorUnitario: 2500n, affectsCapital: true });
    expect(parseMultaRow({ id: 'f', juntaId: 'j', monto: '9.00', pagada: true, affects_capital: false }).affectsCapital).toBe(false);
  });
});
