// Writes shadow payments (PagoPrestamoNew) that changed.
import type { Client } from './client.ts';
import { money } from './sql-text.ts';
import { formatCents } from '../../domain/decimal.ts';
import type { ShadowPayment } from '../../domain/apply-plan.ts';

export async function upsertPayments(client: Client, payments: ShadowPayment[]): Promise<void> {
  if (payments.length === 0) return;
  const col = <T>(f: (p: ShadowPayment) => T) => payments.map(f);
  await client.query(
    `INSERT INTO "PagoPrestamoNew" AS t (id, prestamo_id, amount, principal_amount, interest_amount, paid_at, status,
            created_at, updated_at, source_lsn, source_xid, synced_at)
     SELECT v.*, now()
       FROM unnest($1::text[], $2::text[], $3::numeric[], $4::numeric[], $5::numeric[], $6::timestamptz[], $7::text[],
                   $8::timestamptz[], $9::timestamptz[], $10::pg_lsn[], $11::xid8[]) AS v
     ON CONFLICT (id) DO UPDATE SET
            prestamo_id = EXCLUDED.prestamo_id, amount = EXCLUDED.amount, principal_amount = EXCLUDED.principal_amount,
            interest_amount = EXCLUDED.interest_amount, paid_at = EXCLUDED.paid_at, status = EXCLUDED.status,
            created_at = EXCLUDED.created_at, updated_at = EXCLUDED.updated_at, source_lsn = EXCLUDED.source_lsn,
            source_xid = EXCLUDED.source_xid, synced_at = now()`,
    [
      col((p) => p.id),
      col((p) => p.prestamoId),
      col((p) => formatCents(p.amount)),
      col((p) => money(p.principalAmount)),
      col((p) => money(p.interestAmount)),
      col((p) => p.paidAt),
      col((p) => p.status),
      col((p) => p.createdAt),
      col((p) => p.updatedAt),
      col((p) => p.sourceLsn),
      col((p) => p.sourceXid),
    ],
  );
}
