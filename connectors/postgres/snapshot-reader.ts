// Snapshot reads of the legacy tables: one short REPEATABLE READ transaction per chunk (never a
// long-running transaction on the source), returning the rows with the pg_snapshot they were read
// under — what the sync compares streamed changes against.
import type pg from 'pg';
import type { CapturedTable, RawRow } from '../../services/domain/change-event.ts';
import { normalizePgText, RAW_TEXT_TYPES } from './pg-text.ts';
import { quoteIdent } from './replication-setup.ts';
import { inTransaction } from './transaction.ts';

export interface SnapshotRead {
  /** pg_snapshot of the read, "xmin:xmax:xip,…" */
  snapshot: string;
  rows: RawRow[];
}

function readOnly<T>(pool: pg.Pool, fn: (client: pg.PoolClient) => Promise<T>): Promise<T> {
  return inTransaction(
    pool,
    async (client) => {
      // bounded: a chunk read must never become the long transaction it is designed to avoid
      await client.query(`SET LOCAL statement_timeout = 60000`);
      return fn(client);
    },
    'BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY',
  );
}

async function selectRows(client: pg.PoolClient, text: string, values: unknown[]): Promise<RawRow[]> {
  const res = await client.query({ text, values, rowMode: 'array', types: RAW_TEXT_TYPES });
  const fields = res.fields;
  return (res.rows as (string | null)[][]).map((cells) => {
    const row: RawRow = {};
    for (let i = 0; i < fields.length; i++) row[fields[i]!.name] = normalizePgText(fields[i]!.dataTypeID, cells[i] ?? null);
    return row;
  });
}

async function currentSnapshot(client: pg.PoolClient): Promise<string> {
  const r = await client.query<{ s: string }>('SELECT pg_current_snapshot()::text AS s');
  return r.rows[0]!.s;
}

/** The next chunk of a table in primary-key order, after `afterKey` (exclusive). */
export async function readTableChunk(pool: pg.Pool, table: CapturedTable, afterKey: string | null, limit: number): Promise<SnapshotRead> {
  return readOnly(pool, async (client) => {
    const snapshot = await currentSnapshot(client);
    const rows =
      afterKey === null
        ? await selectRows(client, `SELECT * FROM ${quoteIdent(table)} ORDER BY id LIMIT $1`, [limit])
        : await selectRows(client, `SELECT * FROM ${quoteIdent(table)} WHERE id > $1 ORDER BY id LIMIT $2`, [afterKey, limit]);
    return { snapshot, rows };
  });
}

/** One loan and all its payments at one snapshot, with what became of the payments held under it. */
export interface LoanRead {
  /** pg_snapshot of the read */
  snapshot: string;
  loan: RawRow | null;
  /** its payments in the snapshot */
  payments: RawRow[];
  /**
   * Payments that "PagoPrestamoNew" held under the loan (as committed at the snapshot) and that, in the
   * snapshot, belong to another loan: their rows there, to be applied as they are ("not under this
   * loan" is not "gone").
   */
  movedAway: RawRow[];
  /** Payments the new table held under the loan that do not exist in the snapshot at all. */
  absent: string[];
}

/** One loan and all its payments, in one consistent read. */
export async function readLoanWithPayments(pool: pg.Pool, prestamoId: string): Promise<LoanRead> {
  return readOnly(pool, async (client) => {
    const snapshot = await currentSnapshot(client);
    const loans = await selectRows(client, `SELECT * FROM "Prestamo" WHERE id = $1`, [prestamoId]);
    const payments = await selectRows(client, `SELECT * FROM "PagoPrestamo" WHERE "prestamoId" = $1 ORDER BY id`, [prestamoId]);
    const underLoan = new Set(payments.map((p) => String(p.id)));
    const held = (await client.query<{ id: string }>(`SELECT id FROM "PagoPrestamoNew" WHERE prestamo_id = $1 ORDER BY id`, [prestamoId])).rows
      .map((r) => r.id)
      .filter((id) => !underLoan.has(id));
    const movedAway = held.length ? await selectRows(client, `SELECT * FROM "PagoPrestamo" WHERE id = ANY($1::text[]) ORDER BY id`, [held]) : [];
    const found = new Set(movedAway.map((p) => String(p.id)));
    return { snapshot, loan: loans[0] ?? null, payments, movedAway, absent: held.filter((id) => !found.has(id)) };
  });
}
