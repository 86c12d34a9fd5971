// The ledger's signed sum per junta for rows whose worth held is not known.
import type { Client } from './client.ts';
import { cents } from '../../domain/decimal.ts';
import { ledgerKey } from '../../domain/apply-plan.ts';
import type { MovementType } from '../../domain/ledger.ts';

/** The ledger's signed sum per junta for each row (IN positive, OUT negative). */
export async function readLedgerSums(
  client: Client,
  rows: { loans: string[]; payments: string[]; acciones: string[]; multas: string[] },
): Promise<Map<string, Map<string, bigint>>> {
  const out = new Map<string, Map<string, bigint>>();
  if (!rows.loans.length && !rows.payments.length && !rows.acciones.length && !rows.multas.length) return out;
  const signed = `CASE m.direction WHEN 'IN' THEN m.amount ELSE -m.amount END`;
  const r = await client.query<{ type: MovementType; row_id: string; junta_id: string; worth: string }>(
    `SELECT type, row_id, junta_id, sum(s)::text AS worth FROM (
        SELECT m.type, m.prestamo_id AS row_id, m.junta_id, ${signed} AS s FROM capital_movements m
         WHERE m.prestamo_id = ANY($1::text[]) AND m.type = 'PRESTAMO'
        UNION ALL
        SELECT m.type, m.pago_id, m.junta_id, ${signed} FROM capital_movements m WHERE m.pago_id = ANY($2::text[])
        UNION ALL
        SELECT m.type, m.accion_id, m.junta_id, ${signed} FROM capital_movements m WHERE m.accion_id = ANY($3::text[])
        UNION ALL
        SELECT m.type, m.multa_id, m.junta_id, ${signed} FROM capital_movements m WHERE m.multa_id = ANY($4::text[])
     ) x GROUP BY type, row_id, junta_id`,
    [rows.loans, rows.payments, rows.acciones, rows.multas],
  );
  for (const x of r.rows) {
    const k = ledgerKey(x.type, x.row_id);
    let m = out.get(k);
    if (!m) out.set(k, (m = new Map()));
    m.set(x.junta_id, cents(x.worth));
  }
  return out;
}
