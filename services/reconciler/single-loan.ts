// One loan on demand: migrate it now (POST /prestamos/migration/single/:id), or take it out of the new
// tables (POST /prestamos/migration/rollback/:id).
//
// Migrate. When a capture is streaming, a loan-scope snapshot request goes through the same ordered
// mechanism as the first load: the snapshotter takes loan requests first, reads the loan and its
// payments in one short REPEATABLE READ transaction, emits them at a watermark of the stream, and the
// sync applies them under the version guard and marks the request applied when every chunk marker is
// in. Before any capture streams (say, before POST /prestamos/migration/start), there is no stream to
// order against, so the same snapshot rows are applied here, in-process, through the sync's loan writer
// (passed in as deps.loans: services/sync/loan-writer.ts):
// version = (current WAL position, the read's pg_snapshot); payments that left the loan are applied as
// the read saw them (under their new loan), and only those gone from the read are removed — what the
// sync does at a loan chunk's end marker. Either way the rolled-back mark, if
// any, is cleared in the transaction that starts it.
//
// Rollback (deps.loans.rollBack). In one transaction that takes the apply's own locks (the version-guard rows of the loan and
// of its payments, in key order), the loan is marked rolled back, its rows leave the new tables, and
// the ledger gets the reversals that bring the worth of the loan and of each of its payments to zero
// (append-only: new movements, never an UPDATE). The applier treats every later event of a rolled-back
// loan as a delete, so the stream leaves it alone until it is migrated again.
import { setTimeout as sleep } from 'node:timers/promises';
import type pg from 'pg';
import type { Logger } from '../runtime/logger.ts';
import type { Metrics } from '../runtime/metrics.ts';
import { ConflictError, NotFoundError, ValidationError, errorMessage } from '../runtime/errors.ts';
import { createSnapshotRequest, readRequestOutcome } from '../runtime/snapshot-requests.ts';
import type { LocalPipeline } from '../runtime/local-pipeline.ts';
import { readLoanWithPayments, type LoanRead } from '../../connectors/postgres/snapshot-reader.ts';
import { readLiveState } from './live-state.ts';
import { compareLoan, type LoanComparison } from './verification.ts';
import { inTransaction } from '../../connectors/postgres/transaction.ts';

/**
 * The writes of one loan outside the stream (services/sync/loan-writer.ts implements them with the
 * sync's locks, version guard and ledger rule; whoever assembles the process passes it in).
 */
export interface LoanWriter {
  applyLoanRead(id: string, read: LoanRead): Promise<void>;
  rollBack(id: string, actor: string, requestId: string): Promise<Omit<RollbackResult, 'status'> & { status: RollbackResult['status'] | 'unknown loan' }>;
}

export interface SingleLoanDeps {
  pool: pg.Pool;
  logger: Logger;
  metrics?: Metrics;
  pipeline?: LocalPipeline;
  loans: LoanWriter;
}

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
      const outcome = await readRequestOutcome(deps.pool, requestId);
      const status = outcome?.status;
      if (status === 'applied') break;
      if (status === 'failed' || status === 'cancelled') throw new ConflictError(`the snapshot request ${requestId} for loan ${JSON.stringify(id)} ended ${status}`, [outcome?.error ?? status], 'snapshot_failed');
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
  try {
    await deps.loans.applyLoanRead(id, read);
  } catch (err) {
    if (err instanceof ValidationError) throw new ConflictError(`loan ${JSON.stringify(id)} cannot be migrated: its legacy rows are invalid`, [errorMessage(err)], 'invalid_legacy_row');
    throw err;
  }
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
  const outcome = await deps.loans.rollBack(id, actor, requestId);
  if (outcome.status === 'unknown loan') throw unknownLoan(id);
  const result: RollbackResult = { ...outcome, status: outcome.status as RollbackResult['status'] };
  for (const m of result.ledgerReversals) deps.metrics?.ledgerMovements.inc({ type: m.type, direction: m.direction });
  deps.logger.info({ prestamoId: id, actor, status: result.status, payments: result.removed.payments.length, reversals: result.ledgerReversals.length }, 'loan rolled back');
  return result;
}
