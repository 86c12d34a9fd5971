// One loan on demand: migrate it now (POST /prestamos/migration/single/:id), or take it out of the new
// tables (POST /prestamos/migration/rollback/:id).
//
// Migrate. When a capture is streaming, a loan-scope snapshot request goes through the same ordered
// mechanism as the first load: the snapshotter takes loan requests first, reads the loan and its
// payments in one short REPEATABLE READ transaction, emits them at a watermark of the stream, and the
// sync applies them under the version guard and marks the request applied when every chunk marker is
// in. Before any capture streams (say, before POST /prestamos/migration/start), there is no stream to
// order against, so the same snapshot rows are applied here, in-process, through the same Applier:
// version = (current WAL position, the read's pg_snapshot); payments that left the loan are applied as
// the read saw them (under their new loan), and only those gone from the read are removed — what the
// sync does at a loan chunk's end marker. Either way the rolled-back mark, if
// any, is cleared in the transaction that starts it.
//
// Rollback. In one transaction that takes the apply's own locks (the version-guard rows of the loan and
// of its payments, in key order), the loan is marked rolled back, its rows leave the new tables, and
// the ledger gets the reversals that bring the worth of the loan and of each of its payments to zero
// (append-only: new movements, never an UPDATE). The applier treats every later event of a rolled-back
// loan as a delete, so the stream leaves it alone until it is migrated again.
import type pg from 'pg';
import type { Logger } from '../runtime/logger.ts';
import type { Metrics } from '../runtime/metrics.ts';
import { ConflictError, NotFoundError, ValidationError, errorMessage } from '../runtime/errors.ts';
import { createSnapshotRequest } from '../runtime/control-plane.ts';
import type { LocalPipeline } from '../runtime/local-pipeline.ts';
import { Applier, type PreparedChange } from '../sync/applier.ts';
import * as store from '../sync/shadow-store.ts';
import { ledgerCorrections, type Movement } from '../domain/ledger.ts';
import { parseLoanRow, parsePaymentRow } from '../domain/legacy-rows.ts';
import { parseLsn } from '../domain/lsn.ts';
import { parsePgSnapshot } from '../domain/visibility.ts';
import { formatCents } from '../domain/decimal.ts';
import { readLoanWithPayments } from '../../connectors/postgres/snapshot-reader.ts';
import { readLiveState } from './live-state.ts';
import { compareLoan, type LoanComparison } from './verification.ts';
import { inTransaction } from '../../connectors/postgres/transaction.ts';

export interface SingleLoanDeps {
  pool: pg.Pool;
  logger: Logger;
  metrics?: Metrics;
  pipeline?: LocalPipeline;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Where a loan id is known: the legacy table, the new table, the rolled-back list. */
export async function loanPresence(db: Pick<pg.Pool, 'query'>, id: string): Promise<{ inLegacy: boolean; inNew: boolean; rolledBack: boolean }> {
  const r = await db.query<{ l: boolean; n: boolean; r: boolean }>(
    `SELECT EXISTS (SELECT 1 FROM "Prestamo" WHERE id = $1) AS l, EXISTS (SELECT 1 FROM "PrestamoNew" WHERE id = $1) AS n,
            EXISTS (SELECT 1 FROM prestamos_cdc.rolled_back_loans WHERE prestamo_id = $1) AS r`,
    [id],
  );
  const x = r.rows[0]!;
  return { inLegacy: x.l, inNew: x.n, rolledBack: x.r };
}

function unknownLoan(id: string): NotFoundError {
  return new NotFoundError(`no loan ${JSON.stringify(id)} in "Prestamo", "PrestamoNew" or the rolled-back loans`);
}

export interface SingleLoanResult {
  status: 'applied' | 'pending';
  mode: 'snapshot request' | 'in-process';
  requestId: string | null;
  durationMs: number;
  comparison: LoanComparison | null;
  message?: string;
}

export async function migrateSingleLoan(deps: SingleLoanDeps, id: string, actor: string, waitMs: number): Promise<SingleLoanResult> {
  const t0 = Date.now();
  const presence = await loanPresence(deps.pool, id);
  if (!presence.inLegacy && !presence.inNew && !presence.rolledBack) throw unknownLoan(id);
  const live = await readLiveState(deps.pool, deps.pipeline);
  if (live.captureStreaming) {
    const requestId = await inTransaction(deps.pool, async (client) => {
      await client.query('DELETE FROM prestamos_cdc.rolled_back_loans WHERE prestamo_id = $1', [id]);
      return createSnapshotRequest(client, {
        scope: 'loan',
        tables: ['Prestamo', 'PagoPrestamo'],
        targetId: id,
        reason: `single loan migration (POST /prestamos/migration/single) by ${actor}`,
        requestedBy: actor,
      });
    });
    deps.logger.info({ prestamoId: id, requestId, actor }, 'single loan migration requested through the snapshot mechanism');
    const deadline = Date.now() + waitMs;
    for (;;) {
      const r = await deps.pool.query<{ status: string; error: string | null }>('SELECT status, error FROM prestamos_cdc.snapshot_requests WHERE id = $1', [requestId]);
      const status = r.rows[0]?.status;
      if (status === 'applied') break;
      if (status === 'failed' || status === 'cancelled') throw new ConflictError(`the snapshot request ${requestId} for loan ${JSON.stringify(id)} ended ${status}`, [r.rows[0]?.error ?? status], 'snapshot_failed');
      if (Date.now() >= deadline) {
        return {
          status: 'pending',
          mode: 'snapshot request',
          requestId,
          durationMs: Date.now() - t0,
          comparison: null,
          message: `snapshot request ${requestId} is ${status ?? 'unknown'} after ${waitMs} ms; it will be applied by the pipeline — follow it in GET /prestamos/migration/progress and compare with GET /prestamos/migration/loan/{id}`,
        };
      }
      await sleep(100);
    }
    return { status: 'applied', mode: 'snapshot request', requestId, durationMs: Date.now() - t0, comparison: await compareLoan(deps.pool, id) };
  }

  // No capture streams: the same snapshot rows, applied here.
  const read = await readLoanWithPayments(deps.pool, id);
  const lsn = (await deps.pool.query<{ lsn: string }>('SELECT pg_current_wal_lsn()::text AS lsn')).rows[0]!.lsn;
  const version = { kind: 'snapshot' as const, lsn: parseLsn(lsn), snapshot: parsePgSnapshot(read.snapshot) };
  let changes: PreparedChange[];
  try {
    changes = [
      { table: 'Prestamo', key: id, version, row: read.loan ? parseLoanRow(read.loan) : null, sourceLsn: lsn, sourceXid: null },
      // its payments, and those that left it for another loan, as the read saw them
      ...[...read.payments, ...read.movedAway].map((p) => {
        const row = parsePaymentRow(p);
        return { table: 'PagoPrestamo' as const, key: row.id, version, row, sourceLsn: lsn, sourceXid: null };
      }),
    ];
  } catch (err) {
    if (err instanceof ValidationError) throw new ConflictError(`loan ${JSON.stringify(id)} cannot be migrated: its legacy rows are invalid`, [errorMessage(err)], 'invalid_legacy_row');
    throw err;
  }
  const applier = new Applier({ pool: deps.pool, logger: deps.logger, metrics: deps.metrics });
  await applier.transaction(async (client) => {
    await client.query('DELETE FROM prestamos_cdc.rolled_back_loans WHERE prestamo_id = $1', [id]);
    // only payments gone from the read altogether: one under another loan is not gone
    const removals: PreparedChange[] = read.absent.map((key) => ({ table: 'PagoPrestamo', key, version, row: null, sourceLsn: lsn, sourceXid: null }));
    await applier.applyChanges(client, [...changes, ...removals]);
  });
  deps.logger.info({ prestamoId: id, actor, payments: read.payments.length }, 'single loan migrated in-process (no capture streaming)');
  return { status: 'applied', mode: 'in-process', requestId: null, durationMs: Date.now() - t0, comparison: await compareLoan(deps.pool, id) };
}

export interface RollbackResult {
  prestamoId: string;
  status: 'rolled back' | 'already rolled back';
  rolledBackAt: string;
  rolledBackBy: string;
  removed: { loan: boolean; payments: string[] };
  ledgerReversals: { juntaId: string; type: string; rowId: string; direction: 'IN' | 'OUT'; amount: string }[];
}

export async function rollbackLoan(deps: SingleLoanDeps, id: string, actor: string, requestId: string): Promise<RollbackResult> {
  const applier = new Applier({ pool: deps.pool, logger: deps.logger, metrics: deps.metrics });
  const result = await applier.transaction(async (client): Promise<RollbackResult> => {
    const presence = await loanPresence(client, id);
    if (presence.rolledBack) {
      const r = await client.query<{ at: string; by: string }>('SELECT rolled_back_at::text AS at, rolled_back_by AS by FROM prestamos_cdc.rolled_back_loans WHERE prestamo_id = $1', [id]);
      return { prestamoId: id, status: 'already rolled back', rolledBackAt: r.rows[0]!.at, rolledBackBy: r.rows[0]!.by, removed: { loan: false, payments: [] }, ledgerReversals: [] };
    }
    if (!presence.inLegacy && !presence.inNew) throw unknownLoan(id);
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
      return { prestamoId: id, status: 'already rolled back', rolledBackAt: r.rows[0]!.at, rolledBackBy: r.rows[0]!.by, removed: { loan: false, payments: [] }, ledgerReversals: [] };
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
    return {
      prestamoId: id,
      status: 'rolled back',
      rolledBackAt: marked.rows[0]!.at,
      rolledBackBy: actor,
      removed: { loan, payments },
      ledgerReversals: movements.map((m) => ({ juntaId: m.juntaId, type: m.type, rowId: m.type === 'PAGO' ? m.pagoId! : m.prestamoId!, direction: m.direction, amount: formatCents(m.amount) })),
    };
  });
  for (const m of result.ledgerReversals) deps.metrics?.ledgerMovements.inc({ type: m.type, direction: m.direction });
  deps.logger.info({ prestamoId: id, actor, status: result.status, payments: result.removed.payments.length, reversals: result.ledgerReversals.length }, 'loan rolled back');
  return result;
}
