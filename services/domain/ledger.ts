// The capital ledger rule of SPEC §3: what each legacy row is worth to its junta, and the movements
// that bring the ledger's signed sum for the row to exactly that worth. Appending the difference
// (never updating) makes every change, delete, void and move between juntas a new row, and a replayed
// event a no-op: its difference is zero.
import { formatCents } from './decimal.ts';

export type MovementType = 'PRESTAMO' | 'PAGO' | 'ACCION' | 'MULTA';

export interface LedgerRowRef {
  type: MovementType;
  rowId: string;
  /** the loan a payment belongs to (for PAGO movements), when known */
  prestamoId?: string | null;
}

/** What a row is worth to one junta (signed: IN positive, OUT negative); null = worth nothing. */
export interface Worth {
  juntaId: string;
  cents: bigint;
}

export interface Movement {
  juntaId: string;
  type: MovementType;
  direction: 'IN' | 'OUT';
  /** > 0 */
  amount: bigint;
  description: string;
  prestamoId: string | null;
  pagoId: string | null;
  accionId: string | null;
  multaId: string | null;
}

/**
 * Movements to append so that, for every junta, the ledger's signed sum for `row` equals the desired
 * worth (0 for every junta but the desired one). `current` is the ledger's signed sum per junta.
 */
export function ledgerCorrections(row: LedgerRowRef, desired: Worth | null, current: ReadonlyMap<string, bigint>): Movement[] {
  const target = new Map<string, bigint>();
  if (desired && desired.cents !== 0n) target.set(desired.juntaId, desired.cents);
  const juntas = new Set<string>([...current.keys(), ...target.keys()]);
  const out: Movement[] = [];
  for (const juntaId of [...juntas].sort()) {
    const have = current.get(juntaId) ?? 0n;
    const want = target.get(juntaId) ?? 0n;
    const diff = want - have;
    if (diff === 0n) continue;
    const reason = want === 0n ? 'reversed' : have === 0n ? 'entered' : 'adjusted';
    out.push({
      juntaId,
      type: row.type,
      direction: diff > 0n ? 'IN' : 'OUT',
      amount: diff > 0n ? diff : -diff,
      description: `${row.type} ${row.rowId} ${reason}: worth ${formatCents(have)} -> ${formatCents(want)}`,
      prestamoId: row.type === 'PRESTAMO' ? row.rowId : row.type === 'PAGO' ? (row.prestamoId ?? null) : null,
      pagoId: row.type === 'PAGO' ? row.rowId : null,
      accionId: row.type === 'ACCION' ? row.rowId : null,
      multaId: row.type === 'MULTA' ? row.rowId : null,
    });
  }
  return out;
}

/** PRESTAMO: OUT the principal while disbursed. */
export function loanWorth(loan: { juntaId: string; principal: bigint; disbursed: boolean } | null): Worth | null {
  return loan && loan.disbursed ? { juntaId: loan.juntaId, cents: -loan.principal } : null;
}

/** PAGO: IN the amount while not voided, to the junta of its loan (nothing while the loan is unknown). */
export function paymentWorth(payment: { amount: bigint; voided: boolean } | null, loanJuntaId: string | null): Worth | null {
  return payment && !payment.voided && loanJuntaId !== null ? { juntaId: loanJuntaId, cents: payment.amount } : null;
}

/** ACCION: IN cantidad × valorUnitario while it affects capital. */
export function accionWorth(accion: { juntaId: string; cantidad: number; valorUnitario: bigint; affectsCapital: boolean } | null): Worth | null {
  return accion && accion.affectsCapital ? { juntaId: accion.juntaId, cents: BigInt(accion.cantidad) * accion.valorUnitario } : null;
}

/** MULTA: IN the amount while paid and affecting capital. */
export function multaWorth(multa: { juntaId: string; monto: bigint; pagada: boolean; affectsCapital: boolean } | null): Worth | null {
  return multa && multa.pagada && multa.affectsCapital ? { juntaId: multa.juntaId, cents: multa.monto } : null;
}
