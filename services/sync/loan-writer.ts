// The writes of one loan outside the stream, for the reconciler: the loan applied now from a read of
// its legacy rows (single/:id when no capture streams), and a loan rolled back out of the new tables
// with the ledger reversed. Both go through the sync's own locks, version guard and ledger rule, so they
// are ordered with the stream exactly like an apply. The reconciler receives this through its
// dependencies (it defines the LoanWriter it needs; this module satisfies it) and never imports the sync.
import { cancelLoanRequests } from '../runtime/snapshot-requests.ts';
import type pg from 'pg';
import type { Logger } from '../runtime/logger.ts';
import type { Metrics } from '../runtime/metrics.ts';
import { ledgerCorrections, type Movement } from '../domain/ledger.ts';
import { parseLoanRow, parsePaymentRow } from '../domain/legacy-rows.ts';
import { parseLsn } from '../domain/lsn.ts';
import { parsePgSnapshot } from '../domain/visibility.ts';
import { formatCents } from '../domain/decimal.ts';
import type { LoanRead } from '../../connectors/postgres/snapshot-reader.ts';
import { Applier, type PreparedChange } from './applier.ts';
import * as store from './shadow-store.ts';

export interface LoanRollback {
  prestamoId: string;
  status: 'rolled back' | 'already rolled back' | 'unknown loan';
  rolledBackAt: string;
  rolledBackBy: string;
  removed: { loan: boolean; payments: string[] };
  ledgerReversals: { juntaId: string; type: string; rowId: string; direction: 'IN' | 'OUT'; amount: string }[];
}

export function createLoanWriter(options: { pool: pg.Pool; logger: Logger; metrics?: Metrics }) {
  const applier = new Applier({ pool: options.pool, logger: options.logger, metrics: options.metrics });
  return {
    /**
     * Applies a read of the loan (its row and payments under one pg_snapshot) as snapshot rows, and
     * clears its rolled-back mark. Throws ValidationError when a legacy row is invalid.
     */
    async applyLoanRead(id: string, read: LoanRead): Promise<void> {
      const lsn = (await options.pool.query<{ lsn: string }>('SELECT pg_current_wal_lsn()::text AS lsn')).rows[0]!.lsn;
      const version = { kind: 'snapshot' as const, lsn: parseLsn(lsn), snapshot: parsePgSnapshot(read.snapshot) };
      const changes: PreparedChange[] = [
        { table: 'Prestamo', key: id, version, row: read.loan ? parseLoanRow(read.loan) : null, sourceLsn: lsn, sourceXid: null },
        // its payments, and those that left it for another loan, as the read saw them
        ...[...read.payments, ...read.movedAway].map((p) => {
          const row = parsePaymentRow(p);
          return { table: 'PagoPrestamo' as const, key: row.id, version, row, sourceLsn: lsn, sourceXid: null };
        }),
      ];
      await applier.transaction(async (client) => {
        await client.query('DELETE FROM prestamos_cdc.rolled_back_loans WHERE prestamo_id = $1', [id]);
        // only payments gone from the read altogether: one under another loan is not gone
        const removals: PreparedChange[] = read.absent.map((key) => ({ table: 'PagoPrestamo', key, version, row: null, sourceLsn: lsn, sourceXid: null }));
        await applier.applyChanges(client, [...changes, ...removals]);
      });
    },

    /** Removes the loan and its payments from the new tables, appends the reversals, marks it rolled back. */
    async rollBack(id: string, actor: string, requestId: string): Promise<LoanRollback> {
      const result = await applier.transaction(async (client): Promise<LoanRollback> => {
        const presence = (
          await client.query<{ l: boolean; n: boolean; at: string | null; by: string | null }>(
            `SELECT EXISTS (SELECT 1 FROM "Prestamo" WHERE id = $1) AS l, EXISTS (SELECT 1 FROM "PrestamoNew" WHERE id = $1) AS n,
                    (SELECT rolled_back_at::text FROM prestamos_cdc.rolled_back_loans WHERE prestamo_id = $1) AS at,
                    (SELECT rolled_back_by FROM prestamos_cdc.rolled_back_loans WHERE prestamo_id = $1) AS by`,
            [id],
          )
        ).rows[0]!;
        const nothing = { removed: { loan: false, payments: [] }, ledgerReversals: [] };
        if (presence.at !== null) return { prestamoId: id, status: 'already rolled back', rolledBackAt: presence.at, rolledBackBy: presence.by!, ...nothing };
        if (!presence.l && !presence.n) return { prestamoId: id, status: 'unknown loan', rolledBackAt: '', rolledBackBy: '', ...nothing };
        // The apply's locks, in its order: the loan and every payment that is or was part of it.
        const candidates = await client.query<{ id: string }>(
          `SELECT id FROM "PagoPrestamoNew" WHERE prestamo_id = $1 UNION SELECT id FROM "PagoPrestamo" WHERE "prestamoId" = $1`,
          [id],
        );
        await store.lockRowStates(client, [{ table: 'Prestamo', id }, ...candidates.rows.map((r) => ({ table: 'PagoPrestamo' as const, id: r.id }))]);
        const marked = await client.query<{ at: string }>(
          `INSERT INTO prestamos_cdc.rolled_back_loans (prestamo_id, rolled_back_by, request_id) VALUES ($1, $2, $3)
           ON CONFLICT (prestamo_id) DO NOTHING RETURNING rolled_back_at::text AS at`,
          [id, actor, requestId],
        );
        if (!marked.rows[0]) {
          // a concurrent rollback of the same loan committed while this one waited for the locks
          const r = await client.query<{ at: string; by: string }>('SELECT rolled_back_at::text AS at, rolled_back_by AS by FROM prestamos_cdc.rolled_back_loans WHERE prestamo_id = $1', [id]);
          return { prestamoId: id, status: 'already rolled back', rolledBackAt: r.rows[0]!.at, rolledBackBy: r.rows[0]!.by, ...nothing };
        }
        // Payments that arrived under the loan between the read above and the lock are locked through the
        // loan (every apply of a payment locks its loan too), so this list is complete now.
        const payments = (await client.query<{ id: string }>('DELETE FROM "PagoPrestamoNew" WHERE prestamo_id = $1 RETURNING id', [id])).rows.map((r) => r.id).sort();
        const loan = (await client.query('DELETE FROM "PrestamoNew" WHERE id = $1 RETURNING id', [id])).rowCount! > 0;
        const sums = await store.readLedgerSums(client, { loans: [id], payments, acciones: [], multas: [] });
        const empty = new Map<string, bigint>();
        const why = ` (loan ${id} rolled back by ${actor})`;
        const movements: (Movement & { sourceLsn: string | null })[] = [];
        for (const m of ledgerCorrections({ type: 'PRESTAMO', rowId: id }, null, sums.get(store.ledgerKey('PRESTAMO', id)) ?? empty)) {
          movements.push({ ...m, description: m.description + why, sourceLsn: null });
        }
        for (const p of payments) {
          for (const m of ledgerCorrections({ type: 'PAGO', rowId: p, prestamoId: id }, null, sums.get(store.ledgerKey('PAGO', p)) ?? empty)) {
            movements.push({ ...m, description: m.description + why, sourceLsn: null });
          }
        }
        await store.appendMovements(client, movements);
        // The version guard keeps each row's newest version; the rows are gone from the new tables and the
        // ledger holds nothing for them (the worth held beside the version).
        await client.query(
          `UPDATE prestamos_cdc.row_state SET deleted = true, worth = 0, updated_at = now()
            WHERE (source_table = 'Prestamo' AND row_id = $1) OR (source_table = 'PagoPrestamo' AND row_id = ANY($2::text[]))`,
          [id, [...new Set([...payments, ...candidates.rows.map((r) => r.id)])]],
        );
        // a one-loan request still waiting for this loan would migrate it again: nothing is to be migrated now
        const cancelled = await cancelLoanRequests(client, id, `cancelled: loan ${id} rolled back by ${actor}`);
        if (cancelled.length > 0) options.logger.info({ prestamoId: id, requests: cancelled }, 'snapshot requests of a rolled-back loan cancelled');
        return {
          prestamoId: id,
          status: 'rolled back',
          rolledBackAt: marked.rows[0]!.at,
          rolledBackBy: actor,
          removed: { loan, payments },
          ledgerReversals: movements.map((m) => ({ juntaId: m.juntaId, type: m.type, rowId: m.type === 'PAGO' ? m.pagoId! : m.prestamoId!, direction: m.direction, amount: formatCents(m.amount) })),
        };
      });
      for (const m of result.ledgerReversals) options.metrics?.ledgerMovements.inc({ type: m.type, direction: m.direction });
      return result;
    },
  };
}
