// The shadow loans held (PrestamoNew), as the plan works on them.
import type { Client } from './client.ts';
import { ISO } from './sql-text.ts';
import { cents, parseFixed, toScale } from '../../domain/decimal.ts';
import type { ShadowLoan } from '../../domain/apply-plan.ts';

export async function readShadowLoans(client: Client, ids: string[]): Promise<Map<string, ShadowLoan>> {
  if (ids.length === 0) return new Map();
  const r = await client.query(
    `SELECT id, junta_id, member_id, principal::text, monthly_interest_rate::text AS rate, installments, status,
            ${ISO('disbursed_at')} AS disbursed_at, ${ISO('due_at')} AS due_at, notes,
            total_paid::text, principal_paid::text, interest_paid::text, outstanding_principal::text, payments_count,
            ${ISO('last_payment_at')} AS last_payment_at, ${ISO('created_at')} AS created_at, ${ISO('updated_at')} AS updated_at,
            source_lsn::text, source_xid::text
       FROM "PrestamoNew" WHERE id = ANY($1::text[])`,
    [ids],
  );
  const out = new Map<string, ShadowLoan>();
  for (const x of r.rows) {
    out.set(x.id, {
      id: x.id,
      juntaId: x.junta_id,
      memberId: x.member_id,
      principal: cents(x.principal),
      rate4: toScale(parseFixed(x.rate), 4),
      installments: x.installments,
      status: x.status,
      disbursedAt: x.disbursed_at,
      dueAt: x.due_at,
      notes: x.notes,
      totalPaid: cents(x.total_paid),
      principalPaid: cents(x.principal_paid),
      interestPaid: cents(x.interest_paid),
      outstandingPrincipal: cents(x.outstanding_principal),
      paymentsCount: x.payments_count,
      lastPaymentAt: x.last_payment_at,
      createdAt: x.created_at,
      updatedAt: x.updated_at,
      sourceLsn: x.source_lsn,
      sourceXid: x.source_xid,
    });
  }
  return out;
}
