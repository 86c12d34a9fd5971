// The apply: one database transaction per batch of change events, set-based. The decisions are the pure
// plan of services/domain/apply-plan.ts; this writer runs its steps, one batched statement each
// (services/sync/apply-sql/, one file per statement):
//   read where each payment of the batch belonged; lock the version-guard state of every row touched and
//   of the loans involved (key order); fold the batch through the guard; read the loans and payments the
//   winners change (and all payments of a loan to recompute); plan the rows; read the ledger only for rows
//   whose worth held is not known; write guard state, shadow rows and the ledger differences.
// The SQL verification of the reconciler derives the same values independently from the legacy
// tables; each checks the other.
import { setTimeout as sleep } from 'node:timers/promises';
import type pg from 'pg';
import type { Logger } from '../runtime/logger.ts';
import type { Metrics } from '../runtime/metrics.ts';
import { ValidationError } from '../runtime/errors.ts';
import type { ChangeEvent, CapturedTable, RawRow, StreamPosition, SnapshotPosition } from '../domain/change-event.ts';
import { parseLoanRow, parsePaymentRow, parseAccionRow, parseMultaRow } from '../domain/legacy-rows.ts';
import type { RowVersion } from '../domain/version-guard.ts';
import * as plan from '../domain/apply-plan.ts';
import type { PreparedChange } from '../domain/apply-plan.ts';
import { parseLsn, formatLsn } from '../domain/lsn.ts';
import { parsePgSnapshot } from '../domain/visibility.ts';
import { isTransientDbError, retryDelayMs } from '../../connectors/postgres/retry.ts';
import { inTransaction } from '../../connectors/postgres/transaction.ts';
import * as store from './shadow-store.ts';
import type { Client } from './shadow-store.ts';

export type { PreparedChange };

export function versionOfPosition(position: StreamPosition | SnapshotPosition): RowVersion {
  if ('snapshot' in position) return { kind: 'snapshot', lsn: parseLsn(position.lsn), snapshot: parsePgSnapshot(position.snapshot) };
  return { kind: 'change', lsn: parseLsn(position.lsn), seq: position.seq, xid: BigInt(position.xid) };
}

function parseRow(table: CapturedTable, row: RawRow, unchangedToast: readonly string[]) {
  switch (table) {
    case 'Prestamo':
      return parseLoanRow(row, unchangedToast);
    case 'PagoPrestamo':
      return parsePaymentRow(row);
    case 'Accion':
      return parseAccionRow(row);
    case 'Multa':
      return parseMultaRow(row);
  }
}

/** Validates a change or snapshot event into a PreparedChange; throws ValidationError for a poison. */
export function prepareChange(event: Extract<ChangeEvent, { kind: 'change' | 'snapshot' }>): PreparedChange {
  const version = versionOfPosition(event.position);
  const after = event.after;
  const unchanged = event.kind === 'change' ? event.unchangedToast : [];
  const row = after === null ? null : parseRow(event.table, after, unchanged);
  if (row && row.id !== event.key) throw new ValidationError(`${event.table}: message key ${JSON.stringify(event.key)} differs from the row id ${JSON.stringify(row.id)}`, 'key_mismatch');
  const sourceXid = event.kind === 'change' ? event.position.xid : null;
  return { table: event.table, key: event.key, version, row, sourceLsn: event.position.lsn, sourceXid } as PreparedChange;
}

export interface ApplyOutcome {
  /** changes that superseded what was held */
  applied: number;
  /** changes older than (or equal to) what was held: nothing changed */
  stale: number;
  movements: number;
  /** loans whose TOASTed notes were not sent and are not held: to re-sync by snapshot */
  loansToResync: string[];
}

export interface ApplierOptions {
  pool: pg.Pool;
  logger: Logger;
  metrics?: Metrics;
  /** attempts for transient errors (serialization, deadlock, lock timeout, lost connection) */
  maxAttempts?: number;
}

export class Applier {
  private readonly pool: pg.Pool;
  private readonly logger: Logger;
  private readonly metrics: Metrics | undefined;
  private readonly maxAttempts: number;

  constructor(options: ApplierOptions) {
    this.pool = options.pool;
    this.logger = options.logger;
    this.metrics = options.metrics;
    this.maxAttempts = options.maxAttempts ?? 10;
  }

  /**
   * Runs `work` in a transaction, retrying the whole transaction on transient errors with the backoff
   * of the SQLSTATE table. Non-transient errors propagate after rollback.
   */
  async transaction<T>(work: (client: pg.PoolClient) => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      try {
        // a connection broken by a transient error must not go back to the pool
        return await inTransaction(this.pool, work, 'BEGIN', isTransientDbError);
      } catch (err) {
        if (!isTransientDbError(err) || attempt >= this.maxAttempts) throw err;
        const code = (err as { code?: string }).code ?? 'connection';
        this.metrics?.applyRetries.inc({ code });
        const delay = retryDelayMs((err as { code?: string }).code, attempt);
        this.logger.warn({ attempt, code, delayMs: delay, err: (err as Error).message }, 'apply transaction will be retried');
        await sleep(delay);
      }
    }
  }

  /**
   * Applies prepared changes inside the caller's transaction: the plan of services/domain/apply-plan.ts,
   * each step's reads and writes one batched statement.
   */
  async applyChanges(client: Client, changes: PreparedChange[]): Promise<ApplyOutcome> {
    const outcome: ApplyOutcome = { applied: 0, stale: 0, movements: 0, loansToResync: [] };
    if (changes.length === 0) return outcome;

    const previousLoanOfPayment = await store.readPaymentLoanIds(client, plan.paymentKeys(changes));
    const { states, unstored } = await store.lockRowStatesForApply(client, plan.rowsToLock(changes, previousLoanOfPayment), plan.batchKeys(changes));
    const floors = await store.lockTruncationFloors(client, [...new Set(changes.map((c) => c.table))]);
    const fold = plan.foldVersions(changes, states, floors);
    outcome.applied = fold.applied;
    outcome.stale = fold.stale.length;
    for (const table of fold.stale) this.metrics?.eventsSkippedStale.inc({ table });
    if (fold.winners.size === 0) return outcome;

    const toRead = plan.shadowRowsToRead(fold.winners, previousLoanOfPayment);
    const rolledBack = await store.readRolledBackLoans(client, toRead.loans);
    const loans = await store.readShadowLoans(client, toRead.loans);
    const payments = await store.readShadowPayments(client, [], toRead.payments);
    const recompute = plan.loansToRecompute(fold.winners, loans, payments, rolledBack);
    if (recompute.size > 0) for (const [id, p] of await store.readShadowPayments(client, [...recompute], [])) payments.set(id, p);

    const rows = plan.planRows({ winners: fold.winners, states, rolledBack, loans, payments, recompute });
    const ledger = plan.planLedger(rows.worthChecks, await store.readLedgerSums(client, plan.ledgerRowsToRead(rows.worthChecks)));

    await store.writeRowStates(client, ledger.states, ledger.worthOnly, unstored);
    await store.deletePayments(client, rows.paymentDeletes);
    await store.deleteLoans(client, rows.loanDeletes);
    await store.upsertLoans(client, rows.loanUpserts);
    await store.upsertPayments(client, rows.paymentUpserts);
    await store.appendMovements(client, ledger.movements);

    outcome.movements = ledger.movements.length;
    outcome.loansToResync = rows.loansToResync;
    for (const m of ledger.movements) this.metrics?.ledgerMovements.inc({ type: m.type, direction: m.direction });
    return outcome;
  }

  /** Prepared deletions of every live row of a table (a TRUNCATE at `position`). */
  async liveKeys(client: Client, table: CapturedTable, afterKey: string | null, limit: number): Promise<string[]> {
    const r = await client.query<{ row_id: string }>(
      `SELECT row_id FROM prestamos_cdc.row_state
        WHERE source_table = $1 AND NOT deleted AND lsn IS NOT NULL AND ($2::text IS NULL OR row_id > $2)
        ORDER BY row_id LIMIT $3`,
      [table, afterKey, limit],
    );
    return r.rows.map((x) => x.row_id);
  }
}

export { formatLsn };
