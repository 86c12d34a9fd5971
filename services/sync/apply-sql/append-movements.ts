// Appends ledger movements (capital_movements is append-only; its trigger moves the Junta capital).
import type { Client } from './client.ts';
import { formatCents } from '../../domain/decimal.ts';
import type { Movement } from '../../domain/ledger.ts';

export async function appendMovements(client: Client, movements: (Movement & { sourceLsn: string | null })[]): Promise<void> {
  if (movements.length === 0) return;
  const col = <T>(f: (m: Movement & { sourceLsn: string | null }) => T) => movements.map(f);
  await client.query(
    `INSERT INTO capital_movements (junta_id, type, direction, amount, description, prestamo_id, pago_id, accion_id, multa_id, source_lsn)
     SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::numeric[], $5::text[], $6::text[], $7::text[], $8::text[], $9::text[], $10::pg_lsn[])`,
    [
      col((m) => m.juntaId),
      col((m) => m.type),
      col((m) => m.direction),
      col((m) => formatCents(m.amount)),
      col((m) => m.description),
      col((m) => m.prestamoId),
      col((m) => m.pagoId),
      col((m) => m.accionId),
      col((m) => m.multaId),
      col((m) => m.sourceLsn),
    ],
  );
}
