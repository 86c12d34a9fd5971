// The shadow payments held (PagoPrestamoNew), by loan or by id.
import type { Client } from './client.ts';
import { ISO } from './sql-text.ts';
import { cents } from '../../domain/decimal.ts';
import type { ShadowPayment } from '../../domain/apply-plan.ts';

/** Every shadow payment of these loans, plus the payments with these ids wherever they belong. */
export async function readShadowPayments(client: Client, loanIds: string[], paymentIds: string[]): Promise<Map<string, ShadowPayment>> {
  if (loanIds.length === 0 && paymentIds.length === 0) return new Map();
  const r = await client.query(
    `SELECT id, prestamo_id, amount::text, principal_amount::text, interest_amount::text, ${ISO('paid_at')} AS paid_at, status,
            ${ISO('created_at')} AS created_at, ${ISO('updated_at')} AS updated_at, source_lsn::text, source_xid::text
       FROM "PagoPrestamoNew" WHERE prestamo_id = ANY($1::text[])
     UNION
     SELECT id, prestamo_id, amount::text, principal_amount::text, interest_amount::text, ${ISO('paid_at')} AS paid_at, status,
            ${ISO('created_at')} AS created_at, ${ISO('updated_at')} AS updated_at, source_lsn::text, source_xid::text
       FROM "PagoPrestamoNew" WHERE id = ANY($2::text[])`,
    [loanIds, paymentIds],
  );
  const out = new Map<string, ShadowPayment>();
  for (const x of r.rows) {
    out.set(x.id, {
      id: x.id,
      prestamoId: x.prestamo_id,
      amount: cents(x.amount),
      principalAmount: x.principal_amount === null ? null : cents(x.principal_amount),
      interestAmount: x.interest_amount === null ? null : cents(x.interest_amount),
      paidAt: x.paid_at,
      status: x.status,
      createdAt: x.created_at,
      updatedAt: x.updated_at,
      sourceLsn: x.source_lsn,
      sourceXid: x.source_xid,
    });
  }
  return out;
}
