// The apply: one database transaction per batch of change events, set-based. It
//  1. locks the version-guard state of every row the batch touches, and of the loans involved
//     (key order: concurrent consumers never deadlock; a payment and its loan never race);
//  2. folds the batch through the version guard, in stream order, so that only newer versions win —
//     redelivery, replay and restarts change nothing;
//  3. recomputes, in TypeScript (services/domain), the interest split of every payment of every loan
//     involved and each loan's aggregates, and writes the rows that changed;
//  4. brings each legacy row's worth in the ledger to what it is worth now, appending differences.
// The SQL verification of the reconciler derives the same values independently from the legacy
// tables; each checks the other.
import type pg from 'pg';
import type { Logger } from '../runtime/logger.ts';
import type { Metrics } from '../runtime/metrics.ts';
import { ValidationError } from '../runtime/errors.ts';
import type { ChangeEvent, CapturedTable, RawRow, StreamPosition, SnapshotPosition } from '../domain/change-event.ts';
import { parseLoanRow, parsePaymentRow, parseAccionRow, parseMultaRow, type LoanRow, type PaymentRow, type AccionRow, type MultaRow } from '../domain/legacy-rows.ts';
import { interestSplit, loanAggregates, isDisbursed } from '../domain/derivations.ts';
import { ledgerCorrections, loanWorth, paymentWorth, accionWorth, multaWorth, type Movement, type Worth } from '../domain/ledger.ts';
import { supersedes, type RowVersion } from '../domain/version-guard.ts';
import { parseLsn, formatLsn } from '../domain/lsn.ts';
import { parsePgSnapshot } from '../domain/visibility.ts';
import { isTransientDbError, retryDelayMs } from '../../connectors/postgres/retry.ts';
import * as store from './shadow-store.ts';
import type { ShadowLoan, ShadowPayment, StateRow, RowKey, Client } from './shadow-store.ts';

/** A row-level change ready to apply: validated, with its version. `row` null means the row is gone. */
export type PreparedChange =
  | { table: 'Prestamo'; key: string; version: RowVersion; row: LoanRow | null; sourceLsn: string; sourceXid: string | null }
  | { table: 'PagoPrestamo'; key: string; version: RowVersion; row: PaymentRow | null; sourceLsn: string; sourceXid: string | null }
  | { table: 'Accion'; key: string; version: RowVersion; row: AccionRow | null; sourceLsn: string; sourceXid: string | null }
  | { table: 'Multa'; key: string; version: RowVersion; row: MultaRow | null; sourceLsn: string; sourceXid: string | null };

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
  const after = event.kind === 'change' ? event.after : event.after;
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

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

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
      let client: pg.PoolClient | undefined;
      try {
        client = await this.pool.connect();
        await client.query('BEGIN');
        const result = await work(client);
        await client.query('COMMIT');
        client.release();
        return result;
      } catch (err) {
        if (client) {
          await client.query('ROLLBACK').catch(() => undefined);
          // a broken connection must not go back to the pool
          client.release(isTransientDbError(err) ? (err as Error) : undefined);
        }
        if (!isTransientDbError(err) || attempt >= this.maxAttempts) throw err;
        const code = (err as { code?: string }).code ?? 'connection';
        this.metrics?.applyRetries.inc({ code });
        const delay = retryDelayMs((err as { code?: string }).code, attempt);
        this.logger.warn({ attempt, code, delayMs: delay, err: (err as Error).message }, 'apply transaction will be retried');
        await sleep(delay);
      }
    }
  }

  /** Applies prepared changes inside the caller's transaction. */
  async applyChanges(client: Client, changes: PreparedChange[]): Promise<ApplyOutcome> {
    const outcome: ApplyOutcome = { applied: 0, stale: 0, movements: 0, loansToResync: [] };
    if (changes.length === 0) return outcome;

    // -- 1. what the batch touches, and lock it ------------------------------------------------
    const paymentKeys = uniq(changes.filter((c) => c.table === 'PagoPrestamo').map((c) => c.key));
    const previousLoanOfPayment = await store.readPaymentLoanIds(client, paymentKeys);
    const loanIds = new Set<string>();
    for (const c of changes) {
      if (c.table === 'Prestamo') loanIds.add(c.key);
      if (c.table === 'PagoPrestamo' && c.row) loanIds.add(c.row.prestamoId);
    }
    for (const l of previousLoanOfPayment.values()) loanIds.add(l);
    const lockKeys: RowKey[] = changes.map((c) => ({ table: c.table, id: c.key }));
    for (const l of loanIds) lockKeys.push({ table: 'Prestamo', id: l });
    const states = await store.lockRowStates(client, lockKeys);
    const rolledBack = await store.readRolledBackLoans(client, [...loanIds]);

    // -- 2. the version guard, in stream order -----------------------------------------------------
    const winners = new Map<string, PreparedChange>();
    for (const c of changes) {
      const k = store.stateKey(c.table, c.key);
      const state = states.get(k)!;
      const heldVersion = winners.get(k)?.version ?? state.version;
      if (supersedes(c.version, heldVersion)) {
        const previous = winners.get(k);
        // An update that did not send its TOASTed notes inherits them from the version it replaces.
        if (c.table === 'Prestamo' && c.row && c.row.notes === undefined && previous?.table === 'Prestamo' && previous.row && previous.row.notes !== undefined) {
          winners.set(k, { ...c, row: { ...c.row, notes: previous.row.notes } });
        } else {
          winners.set(k, c);
        }
        outcome.applied++;
      } else {
        outcome.stale++;
        this.metrics?.eventsSkippedStale.inc({ table: c.table });
      }
    }
    if (winners.size === 0) return outcome;

    // -- 3. current shadow rows of every loan involved -------------------------------------------
    const winnerPayments = [...winners.values()].filter((c): c is Extract<PreparedChange, { table: 'PagoPrestamo' }> => c.table === 'PagoPrestamo');
    const affectedLoans = new Set<string>();
    for (const c of winners.values()) {
      if (c.table === 'Prestamo') affectedLoans.add(c.key);
      if (c.table === 'PagoPrestamo') {
        if (c.row) affectedLoans.add(c.row.prestamoId);
        const before = previousLoanOfPayment.get(c.key);
        if (before) affectedLoans.add(before);
      }
    }
    const loanList = [...affectedLoans];
    const loans = await store.readShadowLoans(client, loanList);
    const payments = await store.readShadowPayments(client, loanList, winnerPayments.map((p) => p.key));
    const loansBefore = new Map([...loans].map(([id, l]) => [id, { ...l }]));
    const paymentsBefore = new Map([...payments].map(([id, p]) => [id, { ...p }]));

    // -- 4. apply the winners in memory --------------------------------------------------------------
    const newStates: StateRow[] = [];
    const otherWorth = new Map<string, { ref: 'ACCION' | 'MULTA'; id: string; worth: Worth | null; sourceLsn: string }>();
    const touched = { loans: new Set<string>(), payments: new Set<string>() };
    for (const [k, c] of winners) {
      const state = states.get(k)!;
      const next: StateRow = { ...state, version: c.version, deleted: c.row === null };
      switch (c.table) {
        case 'Prestamo': {
          touched.loans.add(c.key);
          if (c.row === null || rolledBack.has(c.key)) {
            loans.delete(c.key);
            next.deleted = true;
            break;
          }
          const held = loans.get(c.key);
          let notes = c.row.notes;
          if (notes === undefined) {
            // TOASTed notes, unchanged and not sent: keep what is held; without it, re-read the loan.
            notes = held?.notes ?? null;
            if (!held) outcome.loansToResync.push(c.key);
          }
          loans.set(c.key, {
            ...(held ?? zeroAggregates()),
            id: c.row.id,
            juntaId: c.row.juntaId,
            memberId: c.row.memberId,
            principal: c.row.principal,
            rate4: c.row.rate4,
            installments: c.row.installments,
            status: c.row.status,
            disbursedAt: c.row.disbursedAt,
            dueAt: c.row.dueAt,
            notes,
            createdAt: c.row.createdAt,
            updatedAt: c.row.updatedAt,
            sourceLsn: c.sourceLsn,
            sourceXid: c.sourceXid,
          });
          break;
        }
        case 'PagoPrestamo': {
          touched.payments.add(c.key);
          if (c.row === null || rolledBack.has(c.row.prestamoId)) {
            payments.delete(c.key);
            next.deleted = true;
            break;
          }
          const held = payments.get(c.key);
          payments.set(c.key, {
            id: c.row.id,
            prestamoId: c.row.prestamoId,
            amount: c.row.amount,
            principalAmount: held?.principalAmount ?? null,
            interestAmount: held?.interestAmount ?? null,
            paidAt: c.row.paidAt,
            status: c.row.voided ? 'voided' : 'registered',
            createdAt: c.row.createdAt,
            updatedAt: c.row.updatedAt,
            sourceLsn: c.sourceLsn,
            sourceXid: c.sourceXid,
          });
          break;
        }
        case 'Accion': {
          const worth = accionWorth(c.row);
          next.juntaId = c.row?.juntaId ?? state.juntaId;
          next.worth = worth?.cents ?? 0n;
          otherWorth.set(k, { ref: 'ACCION', id: c.key, worth, sourceLsn: c.sourceLsn });
          break;
        }
        case 'Multa': {
          const worth = multaWorth(c.row);
          next.juntaId = c.row?.juntaId ?? state.juntaId;
          next.worth = worth?.cents ?? 0n;
          otherWorth.set(k, { ref: 'MULTA', id: c.key, worth, sourceLsn: c.sourceLsn });
          break;
        }
      }
      newStates.push(next);
    }

    // -- 5. derivations: splits of every payment of every affected loan, and loan aggregates --------
    const paymentsByLoan = new Map<string, ShadowPayment[]>();
    for (const p of payments.values()) {
      let list = paymentsByLoan.get(p.prestamoId);
      if (!list) paymentsByLoan.set(p.prestamoId, (list = []));
      list.push(p);
    }
    for (const p of payments.values()) {
      const loan = loans.get(p.prestamoId);
      if (loan) {
        const split = interestSplit(p.amount, loan.rate4, loan.installments);
        p.interestAmount = split.interest;
        p.principalAmount = split.principal;
      } else {
        p.interestAmount = null;
        p.principalAmount = null;
      }
    }
    for (const loan of loans.values()) {
      if (!affectedLoans.has(loan.id)) continue;
      Object.assign(loan, loanAggregates(loan.principal, loan.status, (paymentsByLoan.get(loan.id) ?? []).map(paymentFacts)));
    }

    // -- 6. write what changed ------------------------------------------------------------------------
    const loanUpserts = [...loans.values()].filter((l) => !sameLoan(l, loansBefore.get(l.id)));
    const loanDeletes = [...loansBefore.keys()].filter((id) => !loans.has(id));
    const paymentUpserts = [...payments.values()].filter((p) => !samePayment(p, paymentsBefore.get(p.id)));
    const paymentDeletes = [...paymentsBefore.keys()].filter((id) => !payments.has(id));
    await store.writeRowStates(client, newStates);
    await store.deletePayments(client, paymentDeletes);
    await store.deleteLoans(client, loanDeletes);
    await store.upsertLoans(client, loanUpserts);
    await store.upsertPayments(client, paymentUpserts);

    // -- 7. the ledger: every row whose worth may have changed --------------------------------------
    const ledgerLoans = [...new Set([...affectedLoans, ...touched.loans])];
    const ledgerPayments = [...new Set([...payments.keys(), ...paymentsBefore.keys(), ...touched.payments])];
    const acciones = [...otherWorth.values()].filter((o) => o.ref === 'ACCION').map((o) => o.id);
    const multas = [...otherWorth.values()].filter((o) => o.ref === 'MULTA').map((o) => o.id);
    const sums = await store.readLedgerSums(client, { loans: ledgerLoans, payments: ledgerPayments, acciones, multas });
    const movements: (Movement & { sourceLsn: string | null })[] = [];
    const push = (list: Movement[], sourceLsn: string | null) => {
      for (const m of list) movements.push({ ...m, sourceLsn });
    };
    const empty = new Map<string, bigint>();
    for (const id of ledgerLoans) {
      const loan = loans.get(id);
      const worth = loanWorth(loan ? { juntaId: loan.juntaId, principal: loan.principal, disbursed: isDisbursed(loan.status) } : null);
      push(ledgerCorrections({ type: 'PRESTAMO', rowId: id }, worth, sums.get(store.ledgerKey('PRESTAMO', id)) ?? empty), loan?.sourceLsn ?? winnerLsn(winners, 'Prestamo', id));
    }
    for (const id of ledgerPayments) {
      const p = payments.get(id);
      const loan = p ? loans.get(p.prestamoId) : undefined;
      const worth = paymentWorth(p ? { amount: p.amount, voided: p.status === 'voided' } : null, loan?.juntaId ?? null);
      const prestamoId = p?.prestamoId ?? paymentsBefore.get(id)?.prestamoId ?? null;
      push(ledgerCorrections({ type: 'PAGO', rowId: id, prestamoId }, worth, sums.get(store.ledgerKey('PAGO', id)) ?? empty), p?.sourceLsn ?? winnerLsn(winners, 'PagoPrestamo', id));
    }
    for (const o of otherWorth.values()) {
      push(ledgerCorrections({ type: o.ref, rowId: o.id }, o.worth, sums.get(store.ledgerKey(o.ref, o.id)) ?? empty), o.sourceLsn);
    }
    await store.appendMovements(client, movements);
    outcome.movements = movements.length;
    for (const m of movements) this.metrics?.ledgerMovements.inc({ type: m.type, direction: m.direction });
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

function zeroAggregates() {
  return {
    totalPaid: 0n,
    principalPaid: 0n,
    interestPaid: 0n,
    outstandingPrincipal: 0n,
    paymentsCount: 0,
    lastPaymentAt: null as string | null,
  };
}

function paymentFacts(p: ShadowPayment) {
  return { amount: p.amount, status: p.status, paidAt: p.paidAt, interest: p.interestAmount, principal: p.principalAmount };
}

function winnerLsn(winners: Map<string, PreparedChange>, table: CapturedTable, id: string): string | null {
  return winners.get(store.stateKey(table, id))?.sourceLsn ?? null;
}

function uniq<T>(xs: T[]): T[] {
  return [...new Set(xs)];
}

function sameLoan(a: ShadowLoan, b: ShadowLoan | undefined): boolean {
  if (!b) return false;
  return (
    a.juntaId === b.juntaId &&
    a.memberId === b.memberId &&
    a.principal === b.principal &&
    a.rate4 === b.rate4 &&
    a.installments === b.installments &&
    a.status === b.status &&
    a.disbursedAt === b.disbursedAt &&
    a.dueAt === b.dueAt &&
    a.notes === b.notes &&
    a.totalPaid === b.totalPaid &&
    a.principalPaid === b.principalPaid &&
    a.interestPaid === b.interestPaid &&
    a.outstandingPrincipal === b.outstandingPrincipal &&
    a.paymentsCount === b.paymentsCount &&
    a.lastPaymentAt === b.lastPaymentAt &&
    a.createdAt === b.createdAt &&
    a.updatedAt === b.updatedAt &&
    a.sourceLsn === b.sourceLsn &&
    a.sourceXid === b.sourceXid
  );
}

function samePayment(a: ShadowPayment, b: ShadowPayment | undefined): boolean {
  if (!b) return false;
  return (
    a.prestamoId === b.prestamoId &&
    a.amount === b.amount &&
    a.principalAmount === b.principalAmount &&
    a.interestAmount === b.interestAmount &&
    a.paidAt === b.paidAt &&
    a.status === b.status &&
    a.createdAt === b.createdAt &&
    a.updatedAt === b.updatedAt &&
    a.sourceLsn === b.sourceLsn &&
    a.sourceXid === b.sourceXid
  );
}

export { formatLsn };
