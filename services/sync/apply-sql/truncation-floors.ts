// The truncation floors (sql/truncation_floors.sql): read FOR SHARE by every apply for its tables, and
// raised by a truncate before it removes the table's rows. The row lock orders the two: an apply that
// read a floor commits before the truncate raising it goes on (and its rows are then removed by it); an
// apply that starts later sees the raised floor, so a change older than the truncate changes nothing.
import type { Client } from './client.ts';
import { parseLsn } from '../../domain/lsn.ts';
import type { RowVersion } from '../../domain/version-guard.ts';
import type { CapturedTable, StreamPosition } from '../../domain/change-event.ts';

export async function lockTruncationFloors(client: Client, tables: readonly CapturedTable[]): Promise<Map<CapturedTable, RowVersion>> {
  const floors = new Map<CapturedTable, RowVersion>();
  if (tables.length === 0) return floors;
  const r = await client.query<{ source_table: CapturedTable; lsn: string | null; seq: number | null; xid: string | null }>(
    `SELECT source_table, lsn::text, seq, xid::text FROM prestamos_cdc.truncation_floors
      WHERE source_table = ANY($1::text[]) ORDER BY source_table FOR SHARE`,
    [[...new Set(tables)]],
  );
  for (const row of r.rows) {
    if (row.lsn !== null) floors.set(row.source_table, { kind: 'change', lsn: parseLsn(row.lsn), seq: row.seq ?? 0, xid: BigInt(row.xid ?? '0') });
  }
  return floors;
}

/** Raises a table's floor to a truncate's position (never lowers it: a replayed truncate changes nothing). */
export async function raiseTruncationFloor(client: Client, table: CapturedTable, position: StreamPosition): Promise<void> {
  await client.query(
    `UPDATE prestamos_cdc.truncation_floors SET lsn = $2::pg_lsn, seq = $3, xid = $4::xid8, raised_at = now()
      WHERE source_table = $1 AND (lsn IS NULL OR (lsn, seq) < ($2::pg_lsn, $3))`,
    [table, position.lsn, position.seq, position.xid],
  );
}
