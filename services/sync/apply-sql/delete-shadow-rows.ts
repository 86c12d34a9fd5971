// Removes shadow rows whose legacy row is gone (or whose loan was rolled back).
import type { Client } from './client.ts';

export async function deleteLoans(client: Client, ids: string[]): Promise<void> {
  if (ids.length) await client.query('DELETE FROM "PrestamoNew" WHERE id = ANY($1::text[])', [ids]);
}

export async function deletePayments(client: Client, ids: string[]): Promise<void> {
  if (ids.length) await client.query('DELETE FROM "PagoPrestamoNew" WHERE id = ANY($1::text[])', [ids]);
}
