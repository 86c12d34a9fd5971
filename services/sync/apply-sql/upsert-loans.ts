// Writes shadow loans (PrestamoNew) that changed.
import type { Client } from './client.ts';
import { rate } from './sql-text.ts';
import { formatCents } from '../../domain/decimal.ts';
import type { ShadowLoan } from '../../domain/apply-plan.ts';

export async function upsertLoans(client: Client, loans: ShadowLoan[]): Promise<void> {
  if (loans.length === 0) return;
  const col = <T>(f: (l: ShadowLoan) => T) => loans.map(f);
  await client.query(
    `INSERT INTO "PrestamoNew" AS t (id, junta_id, member_id, principal, monthly_interest_rate, installments, status,
            disbursed_at, due_at, notes, total_paid, principal_paid, interest_paid, outstanding_principal, payments_count,
            last_payment_at, created_at, updated_at, source_lsn, source_xid, synced_at)
     SELECT v.*, now()
       FROM unnest($1::text[], $2::text[], $3::text[], $4::numeric[], $5::numeric[], $6::int[], $7::text[],
                   $8::timestamptz[], $9::timestamptz[], $10::text[], $11::numeric[], $12::numeric[], $13::numeric[], $14::numeric[],
                   $15::int[], $16::timestamptz[], $17::timestamptz[], $18::timestamptz[], $19::pg_lsn[], $20::xid8[]) AS v
     ON CONFLICT (id) DO UPDATE SET
            junta_id = EXCLUDED.junta_id, member_id = EXCLUDED.member_id, principal = EXCLUDED.principal,
            monthly_interest_rate = EXCLUDED.monthly_interest_rate, installments = EXCLUDED.installments, status = EXCLUDED.status,
            disbursed_at = EXCLUDED.disbursed_at, due_at = EXCLUDED.due_at, notes = EXCLUDED.notes,
            total_paid = EXCLUDED.total_paid, principal_paid = EXCLUDED.principal_paid, interest_paid = EXCLUDED.interest_paid,
            outstanding_principal = EXCLUDED.outstanding_principal, payments_count = EXCLUDED.payments_count,
            last_payment_at = EXCLUDED.last_payment_at, created_at = EXCLUDED.created_at, updated_at = EXCLUDED.updated_at,
            source_lsn = EXCLUDED.source_lsn, source_xid = EXCLUDED.source_xid, synced_at = now()`,
    [
      col((l) => l.id),
      col((l) => l.juntaId),
      col((l) => l.memberId),
      col((l) => formatCents(l.principal)),
      col((l) => rate(l.rate4)),
      col((l) => l.installments),
      col((l) => l.status),
      col((l) => l.disbursedAt),
      col((l) => l.dueAt),
      col((l) => l.notes),
      col((l) => formatCents(l.totalPaid)),
      col((l) => formatCents(l.principalPaid)),
      col((l) => formatCents(l.interestPaid)),
      col((l) => formatCents(l.outstandingPrincipal)),
      col((l) => l.paymentsCount),
      col((l) => l.lastPaymentAt),
      col((l) => l.createdAt),
      col((l) => l.updatedAt),
      col((l) => l.sourceLsn),
      col((l) => l.sourceXid),
    ],
  );
}
