// Where each payment of a batch belonged before it: its loan is locked too.
import type { Client } from './client.ts';

/** prestamo_id of the shadow payments with these ids (where a payment belonged before this batch). */
export async function readPaymentLoanIds(client: Client, paymentIds: string[]): Promise<Map<string, string>> {
  if (paymentIds.length === 0) return new Map();
  const r = await client.query<{ id: string; prestamo_id: string }>(
    'SELECT id, prestamo_id FROM "PagoPrestamoNew" WHERE id = ANY($1::text[])',
    [paymentIds],
  );
  return new Map(r.rows.map((x) => [x.id, x.prestamo_id]));
}
