// An application-like writer: concurrent workers that keep changing the legacy tables the way the
// junta application does — new loans, disbursements, status and term changes, payments (some in the
// same transaction as their loan's status change), voids, deletes, notes edits (TOAST), moves between
// juntas, shares and fines. Used by the demo, the benchmarks and the tests that need live writes.
import type pg from 'pg';
import { Prng, cents, rate4, makeId, largeNotes, timestamp3, LOAN_STATES } from './generator.ts';
import { transactionOn } from '../../connectors/postgres/transaction.ts';

export type WriterOp =
  | 'insertLoan'
  | 'disburseLoan'
  | 'changeStatus'
  | 'changeTerms'
  | 'changeAmount'
  | 'insertPayment'
  | 'paymentWithStatusChange'
  | 'voidPayment'
  | 'unvoidPayment'
  | 'changePaymentAmount'
  | 'deletePayment'
  | 'deleteLoan'
  | 'touchNotes'
  | 'touchOtherColumnOfToastedLoan'
  | 'moveLoanToOtherJunta'
  | 'insertAccion'
  | 'updateAccion'
  | 'deleteAccion'
  | 'insertMulta'
  | 'payMulta'
  | 'toggleAffectsCapital'
  | 'deleteMulta';

const ALL_OPS: WriterOp[] = [
  'insertLoan', 'disburseLoan', 'changeStatus', 'changeTerms', 'changeAmount', 'insertPayment',
  'paymentWithStatusChange', 'voidPayment', 'unvoidPayment', 'changePaymentAmount', 'deletePayment',
  'deleteLoan', 'touchNotes', 'touchOtherColumnOfToastedLoan', 'moveLoanToOtherJunta', 'insertAccion',
  'updateAccion', 'deleteAccion', 'insertMulta', 'payMulta', 'toggleAffectsCapital', 'deleteMulta',
];

export interface LegacyWriterOptions {
  pool: pg.Pool;
  seed: number;
  workers?: number;
  /** Operations per second across all workers; unlimited when omitted. */
  ratePerSecond?: number;
  /** Stop after this many operations in total. */
  maxOperations?: number;
  ops?: WriterOp[];
  /** Prefix of the ids this writer creates. */
  idPrefix?: string;
  /** Prefixes of generated ids to pick existing rows from (besides its own). */
  readPrefixes?: string[];
}

export interface LegacyWriterStats {
  operations: number;
  byOp: Record<string, number>;
  /** Errors other than lock timeouts that were retried. */
  errors: { op: string; code: string | undefined; message: string }[];
  retriedLockTimeouts: number;
}

export interface LegacyWriter {
  readonly stats: LegacyWriterStats;
  /** Resolves when maxOperations is reached (or after stop()). */
  done: Promise<void>;
  stop(): Promise<void>;
}

type Tx = pg.PoolClient;

export function startLegacyWriter(options: LegacyWriterOptions): LegacyWriter {
  const ops = options.ops ?? ALL_OPS;
  const workers = options.workers ?? 4;
  const prefix = options.idPrefix ?? 'w';
  const stats: LegacyWriterStats = { operations: 0, byOp: {}, errors: [], retriedLockTimeouts: 0 };
  let stopping = false;
  const guarded = new WeakSet<pg.PoolClient>();
  let started = 0;
  const t0 = Date.now();

  const knownPrefixes = [...new Set([prefix, ...(options.readPrefixes ?? ['c'])])];
  async function sample(tx: Tx, sql: string, params: unknown[] = []): Promise<Record<string, unknown> | undefined> {
    const r = await tx.query(sql, params);
    return r.rows[0];
  }
  // A roughly uniform random row: an index probe at a random id (ids are <set prefix><table letter>
  // followed by random base-36 digits), wrapping around to the first row.
  async function randomRow(tx: Tx, table: keyof typeof TABLE_LETTER, prng: Prng, where = 'true') {
    const probe = prng.pick(knownPrefixes) + TABLE_LETTER[table] + randomDigits(prng, 3);
    return (
      (await sample(tx, `SELECT * FROM "${table}" WHERE ${where} AND id >= $1 ORDER BY id LIMIT 1`, [probe])) ??
      (await sample(tx, `SELECT * FROM "${table}" WHERE ${where} ORDER BY id LIMIT 1`))
    );
  }
  const randomLoan = (tx: Tx, prng: Prng, where = 'true') => randomRow(tx, 'Prestamo', prng, where);

  async function runOp(op: WriterOp, tx: Tx, prng: Prng): Promise<void> {
    const now = timestamp3(Date.now());
    switch (op) {
      case 'insertLoan': {
        const j = await randomRow(tx, 'Junta', prng);
        if (!j) return;
        const estado = prng.pick(LOAN_STATES);
        const disbursed = estado === 'DESEMBOLSADO' || estado === 'PAGADO' || estado === 'VENCIDO';
        await tx.query(
          `INSERT INTO "Prestamo" (id, "juntaId", "miembroId", monto, "tasaInteres", cuotas, estado, "fechaDesembolso",
             "fechaVencimiento", observaciones, "createdAt", "updatedAt")
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $11)`,
          [
            makeId(prng, prefix + 'p'), j.id, makeId(prng, prefix + 'm'), cents(prng.int(10_000, 2_000_000)),
            rate4(prng.int(0, 500)), prng.pick([1, 3, 6, 12, 24]), estado, disbursed ? now : null, null,
            prng.chance(0.1) ? largeNotes(prng) : null, now,
          ],
        );
        return;
      }
      case 'disburseLoan': {
        const l = await randomLoan(tx, prng, `estado IN ('PENDIENTE','APROBADO')`);
        if (l) await tx.query(`UPDATE "Prestamo" SET estado = 'DESEMBOLSADO', "fechaDesembolso" = $2, "updatedAt" = $2 WHERE id = $1`, [l.id, now]);
        return;
      }
      case 'changeStatus': {
        const l = await randomLoan(tx, prng);
        if (l) await tx.query(`UPDATE "Prestamo" SET estado = $2, "updatedAt" = $3 WHERE id = $1`, [l.id, prng.pick(LOAN_STATES), now]);
        return;
      }
      case 'changeTerms': {
        const l = await randomLoan(tx, prng);
        if (l) await tx.query(`UPDATE "Prestamo" SET "tasaInteres" = $2, cuotas = $3, "updatedAt" = $4 WHERE id = $1`, [l.id, rate4(prng.int(0, 500)), prng.pick([1, 3, 6, 12, 24]), now]);
        return;
      }
      case 'changeAmount': {
        const l = await randomLoan(tx, prng);
        if (l) await tx.query(`UPDATE "Prestamo" SET monto = $2, "updatedAt" = $3 WHERE id = $1`, [l.id, cents(prng.int(10_000, 2_000_000)), now]);
        return;
      }
      case 'insertPayment': {
        const l = await randomLoan(tx, prng);
        if (l) {
          await tx.query(
            `INSERT INTO "PagoPrestamo" (id, "prestamoId", monto, fecha, anulado, "createdAt", "updatedAt") VALUES ($1, $2, $3, $4, false, $4, $4)`,
            [makeId(prng, prefix + 'g'), l.id, cents(prng.int(1_000, 300_000)), now],
          );
        }
        return;
      }
      case 'paymentWithStatusChange': {
        const l = await randomLoan(tx, prng, `estado IN ('DESEMBOLSADO','VENCIDO')`);
        if (!l) return;
        await tx.query(
          `INSERT INTO "PagoPrestamo" (id, "prestamoId", monto, fecha, anulado, "createdAt", "updatedAt") VALUES ($1, $2, $3, $4, false, $4, $4)`,
          [makeId(prng, prefix + 'g'), l.id, cents(prng.int(1_000, 300_000)), now],
        );
        await tx.query(`UPDATE "Prestamo" SET estado = 'PAGADO', "updatedAt" = $2 WHERE id = $1`, [l.id, now]);
        return;
      }
      case 'voidPayment': {
        const p = await randomRow(tx, 'PagoPrestamo', prng, 'NOT anulado');
        if (p) await tx.query(`UPDATE "PagoPrestamo" SET anulado = true, "updatedAt" = $2 WHERE id = $1`, [p.id, now]);
        return;
      }
      case 'unvoidPayment': {
        const p = await randomRow(tx, 'PagoPrestamo', prng, 'anulado');
        if (p) await tx.query(`UPDATE "PagoPrestamo" SET anulado = false, "updatedAt" = $2 WHERE id = $1`, [p.id, now]);
        return;
      }
      case 'changePaymentAmount': {
        const p = await randomRow(tx, 'PagoPrestamo', prng);
        if (p) await tx.query(`UPDATE "PagoPrestamo" SET monto = $2, "updatedAt" = $3 WHERE id = $1`, [p.id, cents(prng.int(1_000, 300_000)), now]);
        return;
      }
      case 'deletePayment': {
        const p = await randomRow(tx, 'PagoPrestamo', prng);
        if (p) await tx.query(`DELETE FROM "PagoPrestamo" WHERE id = $1`, [p.id]);
        return;
      }
      case 'deleteLoan': {
        const l = await randomLoan(tx, prng);
        if (!l) return;
        // lock the loan first, so that no payment can be added to it between the two deletes
        await tx.query(`SELECT 1 FROM "Prestamo" WHERE id = $1 FOR UPDATE`, [l.id]);
        await tx.query(`DELETE FROM "PagoPrestamo" WHERE "prestamoId" = $1`, [l.id]);
        await tx.query(`DELETE FROM "Prestamo" WHERE id = $1`, [l.id]);
        return;
      }
      case 'touchNotes': {
        const l = await randomLoan(tx, prng);
        if (l) await tx.query(`UPDATE "Prestamo" SET observaciones = $2, "updatedAt" = $3 WHERE id = $1`, [l.id, prng.chance(0.5) ? largeNotes(prng) : `nota ${prng.int(1, 999)}`, now]);
        return;
      }
      case 'touchOtherColumnOfToastedLoan': {
        // Updating another column of a loan whose notes are TOASTed: pgoutput sends the notes as "unchanged".
        const l = await randomLoan(tx, prng, `length(observaciones) > 2000`);
        if (l) await tx.query(`UPDATE "Prestamo" SET "fechaVencimiento" = $2, "updatedAt" = $2 WHERE id = $1`, [l.id, now]);
        return;
      }
      case 'moveLoanToOtherJunta': {
        const l = await randomLoan(tx, prng);
        const j = await randomRow(tx, 'Junta', prng);
        if (l && j) await tx.query(`UPDATE "Prestamo" SET "juntaId" = $2, "updatedAt" = $3 WHERE id = $1`, [l.id, j.id, now]);
        return;
      }
      case 'insertAccion': {
        const j = await randomRow(tx, 'Junta', prng);
        if (j) {
          await tx.query(
            `INSERT INTO "Accion" (id, "juntaId", "miembroId", cantidad, "valorUnitario", fecha, "createdAt", "updatedAt") VALUES ($1, $2, $3, $4, $5, $6, $6, $6)`,
            [makeId(prng, prefix + 'a'), j.id, makeId(prng, prefix + 'm'), prng.int(1, 20), cents(prng.int(1_000, 20_000)), now],
          );
        }
        return;
      }
      case 'updateAccion': {
        const a = await randomRow(tx, 'Accion', prng);
        if (a) await tx.query(`UPDATE "Accion" SET cantidad = $2, "updatedAt" = $3 WHERE id = $1`, [a.id, prng.int(1, 30), now]);
        return;
      }
      case 'deleteAccion': {
        const a = await randomRow(tx, 'Accion', prng);
        if (a) await tx.query(`DELETE FROM "Accion" WHERE id = $1`, [a.id]);
        return;
      }
      case 'insertMulta': {
        const j = await randomRow(tx, 'Junta', prng);
        if (j) {
          await tx.query(
            `INSERT INTO "Multa" (id, "juntaId", "miembroId", monto, motivo, pagada, fecha, "createdAt", "updatedAt") VALUES ($1, $2, $3, $4, 'Mora', $5, $6, $6, $6)`,
            [makeId(prng, prefix + 'f'), j.id, makeId(prng, prefix + 'm'), cents(prng.int(500, 10_000)), prng.chance(0.5), now],
          );
        }
        return;
      }
      case 'payMulta': {
        const m = await randomRow(tx, 'Multa', prng, 'NOT pagada');
        if (m) await tx.query(`UPDATE "Multa" SET pagada = true, "updatedAt" = $2 WHERE id = $1`, [m.id, now]);
        return;
      }
      case 'toggleAffectsCapital': {
        const table = prng.chance(0.5) ? ('Accion' as const) : ('Multa' as const);
        const hasColumn = await sample(tx, `SELECT 1 AS x FROM information_schema.columns WHERE table_name = $1 AND column_name = 'affects_capital'`, [table]);
        if (!hasColumn) return;
        const r = await randomRow(tx, table, prng);
        if (r) await tx.query(`UPDATE "${table}" SET affects_capital = NOT affects_capital, "updatedAt" = $2 WHERE id = $1`, [r.id, now]);
        return;
      }
      case 'deleteMulta': {
        const m = await randomRow(tx, 'Multa', prng);
        if (m) await tx.query(`DELETE FROM "Multa" WHERE id = $1`, [m.id]);
        return;
      }
    }
  }

  async function worker(index: number): Promise<void> {
    const prng = new Prng(options.seed * 1009 + index);
    while (!stopping) {
      if (options.maxOperations !== undefined && started >= options.maxOperations) return;
      if (options.ratePerSecond) {
        const due = t0 + (started / options.ratePerSecond) * 1000;
        const wait = due - Date.now();
        if (wait > 0) await new Promise((r) => setTimeout(r, wait));
        if (stopping) return;
      }
      started++;
      const op = prng.pick(ops);
      let client: pg.PoolClient;
      try {
        client = await options.pool.connect();
        // a connection lost between two statements (server restart) fails the next query, not the process
        if (!guarded.has(client)) {
          guarded.add(client);
          client.on('error', () => undefined);
        }
      } catch (err) {
        // the database is unreachable: an application would report it and try again later
        stats.errors.push({ op, code: (err as { code?: string }).code, message: (err as Error).message });
        await new Promise((r) => setTimeout(r, 200));
        continue;
      }
      try {
        for (let attempt = 1; ; attempt++) {
          try {
            await transactionOn(client, (c) => runOp(op, c, prng));
            break;
          } catch (err) {
            const code = (err as { code?: string }).code;
            // A lock timeout (a migration's DDL) or a deadlock between workers is retried, like an app would.
            if ((code === '55P03' || code === '40P01') && attempt < 20) {
              stats.retriedLockTimeouts++;
              await new Promise((r) => setTimeout(r, 20 * attempt));
              continue;
            }
            // Two workers picked the same row and one deleted it first: an application would see the
            // same race; it is not a failure of what runs beside it.
            if (code === '23503') break;
            stats.errors.push({ op, code, message: (err as Error).message });
            break;
          }
        }
      } finally {
        client.release();
      }
      stats.operations++;
      stats.byOp[op] = (stats.byOp[op] ?? 0) + 1;
    }
  }

  const done = Promise.all(Array.from({ length: workers }, (_, i) => worker(i))).then(() => undefined);
  return {
    stats,
    done,
    async stop() {
      stopping = true;
      await done;
    },
  };
}

const TABLE_LETTER = { Junta: 'j', Prestamo: 'p', PagoPrestamo: 'g', Accion: 'a', Multa: 'f' } as const;

function randomDigits(prng: Prng, n: number): string {
  let s = '';
  for (let i = 0; i < n; i++) s += '0123456789abcdefghijklmnopqrstuvwxyz'[Math.floor(prng.next() * 36)];
  return s;
}
