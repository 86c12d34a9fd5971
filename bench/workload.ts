// Deterministic legacy-table workloads of the benchmarks: a backlog of row changes written with
// set-based statements (so that hundreds of thousands of changes take seconds to create), an end
// marker that says when everything before it has been applied, and one very large transaction.
// The same seed gives the same changes, so two peers can be measured on identical work.
import type pg from 'pg';
import { Prng, cents, rate4, timestamp3, LOAN_STATES } from '../services/testdata/generator.ts';
import { writeHeartbeat } from '../services/runtime/control-plane.ts';

export type BacklogKind =
  | 'insertPayments'
  | 'updatePayments'
  | 'voidPayments'
  | 'deletePayments'
  | 'changeLoanStatus'
  | 'changeLoanTerms'
  | 'insertAcciones'
  | 'updateAcciones'
  | 'payMultas';

/** Share of each kind of statement: about 40 % payments, 20 % loans, 20 % shares, 20 % fines. */
export const BACKLOG_MIX: Record<BacklogKind, number> = {
  insertPayments: 15,
  updatePayments: 10,
  voidPayments: 10,
  deletePayments: 5,
  changeLoanStatus: 14,
  changeLoanTerms: 6,
  insertAcciones: 10,
  updateAcciones: 10,
  payMultas: 20,
};

export interface BacklogResult {
  changes: number;
  transactions: number;
  byKind: Record<string, number>;
  seconds: number;
}

interface Ids {
  juntas: string[];
  loans: string[];
  payments: string[];
  acciones: string[];
  multas: string[];
}

async function ids(pool: pg.Pool): Promise<Ids> {
  const col = async (table: string) => (await pool.query<{ id: string }>(`SELECT id FROM "${table}" ORDER BY id`)).rows.map((r) => r.id);
  return { juntas: await col('Junta'), loans: await col('Prestamo'), payments: await col('PagoPrestamo'), acciones: await col('Accion'), multas: await col('Multa') };
}

function pickDistinct(prng: Prng, from: string[], n: number): string[] {
  const out = new Set<string>();
  const want = Math.min(n, from.length);
  while (out.size < want) out.add(from[Math.floor(prng.next() * from.length)]!);
  return [...out];
}

/**
 * Writes about `changes` row changes to the legacy tables, `txSize` rows per transaction, in the mix of
 * BACKLOG_MIX. Every statement's row count is added up: the result is the exact number of changes.
 */
export async function buildBacklog(pool: pg.Pool, options: { seed: number; changes: number; txSize: number; idPrefix?: string }): Promise<BacklogResult> {
  const t0 = performance.now();
  const prng = new Prng(options.seed);
  const known = await ids(pool);
  const inserted: string[] = [];
  const prefix = options.idPrefix ?? 'bk';
  const kinds = Object.entries(BACKLOG_MIX) as [BacklogKind, number][];
  const totalWeight = kinds.reduce((s, [, w]) => s + w, 0);
  const byKind: Record<string, number> = {};
  let changes = 0;
  let transactions = 0;
  let seq = 0;
  const now = () => timestamp3(Date.now());
  while (changes < options.changes) {
    let x = prng.next() * totalWeight;
    let kind: BacklogKind = kinds[0]![0];
    for (const [k, w] of kinds) {
      if ((x -= w) < 0) {
        kind = k;
        break;
      }
    }
    const n = Math.min(options.txSize, options.changes - changes);
    let r: pg.QueryResult;
    switch (kind) {
      case 'insertPayments': {
        const newIds = Array.from({ length: n }, () => `${prefix}g${String(seq++).padStart(9, '0')}`);
        const loans = Array.from({ length: n }, () => known.loans[Math.floor(prng.next() * known.loans.length)]!);
        const montos = Array.from({ length: n }, () => cents(prng.int(1_000, 300_000)));
        r = await pool.query(
          `INSERT INTO "PagoPrestamo" (id, "prestamoId", monto, fecha, anulado, "createdAt", "updatedAt")
           SELECT id, loan, monto, $4::timestamp, false, $4::timestamp, $4::timestamp
             FROM unnest($1::text[], $2::text[], $3::numeric[]) AS t(id, loan, monto)`,
          [newIds, loans, montos, now()],
        );
        inserted.push(...newIds);
        known.payments.push(...newIds);
        break;
      }
      case 'updatePayments': {
        const sel = pickDistinct(prng, known.payments, n);
        r = await pool.query(`UPDATE "PagoPrestamo" SET monto = $2::numeric, "updatedAt" = $3 WHERE id = ANY($1::text[])`, [sel, cents(prng.int(1_000, 300_000)), now()]);
        break;
      }
      case 'voidPayments': {
        const sel = pickDistinct(prng, known.payments, n);
        r = await pool.query(`UPDATE "PagoPrestamo" SET anulado = NOT anulado, "updatedAt" = $2 WHERE id = ANY($1::text[])`, [sel, now()]);
        break;
      }
      case 'deletePayments': {
        if (inserted.length < n) continue;
        const sel = inserted.splice(0, n);
        const gone = new Set(sel);
        known.payments = known.payments.filter((id) => !gone.has(id));
        r = await pool.query(`DELETE FROM "PagoPrestamo" WHERE id = ANY($1::text[])`, [sel]);
        break;
      }
      case 'changeLoanStatus': {
        const sel = pickDistinct(prng, known.loans, n);
        r = await pool.query(`UPDATE "Prestamo" SET estado = $2, "updatedAt" = $3 WHERE id = ANY($1::text[])`, [sel, prng.pick(LOAN_STATES), now()]);
        break;
      }
      case 'changeLoanTerms': {
        const sel = pickDistinct(prng, known.loans, n);
        r = await pool.query(`UPDATE "Prestamo" SET "tasaInteres" = $2::numeric, cuotas = $3, "updatedAt" = $4 WHERE id = ANY($1::text[])`, [
          sel,
          rate4(prng.int(0, 500)),
          prng.pick([1, 3, 6, 12, 24]),
          now(),
        ]);
        break;
      }
      case 'insertAcciones': {
        const newIds = Array.from({ length: n }, () => `${prefix}a${String(seq++).padStart(9, '0')}`);
        const juntas = Array.from({ length: n }, () => known.juntas[Math.floor(prng.next() * known.juntas.length)]!);
        r = await pool.query(
          `INSERT INTO "Accion" (id, "juntaId", "miembroId", cantidad, "valorUnitario", fecha, "createdAt", "updatedAt")
           SELECT id, junta, 'bench-member', $3, $4::numeric, $5::timestamp, $5::timestamp, $5::timestamp
             FROM unnest($1::text[], $2::text[]) AS t(id, junta)`,
          [newIds, juntas, prng.int(1, 20), cents(prng.int(1_000, 20_000)), now()],
        );
        known.acciones.push(...newIds);
        break;
      }
      case 'updateAcciones': {
        const sel = pickDistinct(prng, known.acciones, n);
        r = await pool.query(`UPDATE "Accion" SET cantidad = $2, "updatedAt" = $3 WHERE id = ANY($1::text[])`, [sel, prng.int(1, 30), now()]);
        break;
      }
      case 'payMultas': {
        const sel = pickDistinct(prng, known.multas, n);
        r = await pool.query(`UPDATE "Multa" SET pagada = NOT pagada, "updatedAt" = $2 WHERE id = ANY($1::text[])`, [sel, now()]);
        break;
      }
    }
    changes += r.rowCount ?? 0;
    transactions++;
    byKind[kind] = (byKind[kind] ?? 0) + (r.rowCount ?? 0);
  }
  return { changes, transactions, byKind, seconds: (performance.now() - t0) / 1000 };
}

export interface EndMarker {
  loanId: string;
  /** the heartbeat row's time, written after the marker loan in its own transaction */
  beatAt: string;
  lsn: string;
}

/**
 * The last two transactions of a backlog: a new loan (its arrival in PrestamoNew, or in a subscriber's
 * copy of Prestamo, means every earlier transaction has been applied — both apply in commit order) and
 * a heartbeat (in Kafka mode every partition's consumer records the newest heartbeat it applied).
 */
export async function writeEndMarker(pool: pg.Pool, tag: string): Promise<EndMarker> {
  const loanId = `zzzz-bench-end-${tag}`;
  const j = await pool.query<{ id: string }>(`SELECT id FROM "Junta" ORDER BY id LIMIT 1`);
  await pool.query(
    `INSERT INTO "Prestamo" (id, "juntaId", "miembroId", monto, "tasaInteres", cuotas, estado, "createdAt", "updatedAt")
     VALUES ($1, $2, 'bench-member', 100.00, 0.0100, 1, 'PENDIENTE', now(), now())`,
    [loanId, j.rows[0]!.id],
  );
  const beatAt = await writeHeartbeat(pool);
  // the insert position: with asynchronous commit pg_current_wal_lsn() (the write position) can lag behind
  const lsn = await pool.query<{ lsn: string }>(`SELECT pg_current_wal_insert_lsn()::text AS lsn`);
  return { loanId, beatAt, lsn: lsn.rows[0]!.lsn };
}

/** True once the pipeline has applied the marker (and, with a consumer group, every partition the heartbeat). */
export async function markerApplied(pool: pg.Pool, marker: EndMarker, groupId: string | null): Promise<boolean> {
  const loan = await pool.query(`SELECT 1 FROM "PrestamoNew" WHERE id = $1`, [marker.loanId]);
  if (loan.rowCount === 0) return false;
  if (groupId === null) return true;
  const r = await pool.query<{ ok: boolean }>(
    `SELECT count(*) > 0 AND bool_and(heartbeat_at IS NOT NULL AND heartbeat_at >= $2::timestamptz) AS ok
       FROM prestamos_cdc.consumer_offsets WHERE consumer_group = $1`,
    [groupId, marker.beatAt],
  );
  return r.rows[0]?.ok === true;
}
