// Which of these loans an operator rolled back (the stream leaves them alone).
import type { Client } from './client.ts';

export async function readRolledBackLoans(client: Client, loanIds: string[]): Promise<Set<string>> {
  if (loanIds.length === 0) return new Set();
  const r = await client.query<{ prestamo_id: string }>(
    'SELECT prestamo_id FROM prestamos_cdc.rolled_back_loans WHERE prestamo_id = ANY($1::text[])',
    [loanIds],
  );
  return new Set(r.rows.map((x) => x.prestamo_id));
}
