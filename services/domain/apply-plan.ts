// The apply as a pure plan: given a batch of prepared changes, the version-guard state locked for them,
// the shadow rows held and the worth each legacy row holds in the ledger, which rows to write and which
// movements to append. No I/O: services/sync/applier.ts reads what each step asks for and writes what
// the plan says, one batched statement per phase. The steps, in the order the applier runs them:
//   rowsToLock         what the batch touches (its rows and every loan involved)
//   foldVersions       the version guard, in stream order: only newer versions win
//   shadowRowsToRead   the loans and payments held that the winners change
//   loansToRecompute   loans whose aggregates cannot be moved by the winners' differences alone
//   planRows           the shadow rows to write or delete, and the worth of every row to check
//   ledgerRowsToRead   rows whose worth held is not known from their guard state
//   planLedger         the movements that bring each row's worth in the ledger to what it is worth now,
//                      and the guard state to write (new versions, worth held)
//
// Loan aggregates move by the difference of the payments that changed (subtract what the old version
// counted, add what the new one counts) instead of being summed over every payment of the loan. That is
// exact because every write of a shadow payment goes through this plan with its loan locked. A loan is
// recomputed from all its payments when the difference is not enough: it is new, gone, re-read by a
// snapshot, its terms or junta changed, or a payment that may have been its newest one changed.
//
// The worth each row holds in the ledger is kept beside its version (row_state.junta_id, worth): after
// every apply the ledger holds exactly that for the row. It is trusted for streamed changes; a snapshot
// version (first load, re-sync) of a row applied before reads the ledger itself, so that a re-sync also
// repairs a ledger that something else has written.
import { supersedes, type RowVersion } from './version-guard.ts';
import { interestSplit, loanAggregates, isDisbursed, type LoanStatus, type PaymentStatus, type LoanAggregates } from './derivations.ts';
import { ledgerCorrections, loanWorth, paymentWorth, accionWorth, multaWorth, type LedgerRowRef, type Movement, type MovementType, type Worth } from './ledger.ts';
import type { CapturedTable } from './change-event.ts';
import type { LoanRow, PaymentRow, AccionRow, MultaRow } from './legacy-rows.ts';

/** A row-level change ready to apply: validated, with its version. `row` null means the row is gone. */
export type PreparedChange =
  | { table: 'Prestamo'; key: string; version: RowVersion; row: LoanRow | null; sourceLsn: string; sourceXid: string | null }
  | { table: 'PagoPrestamo'; key: string; version: RowVersion; row: PaymentRow | null; sourceLsn: string; sourceXid: string | null }
  | { table: 'Accion'; key: string; version: RowVersion; row: AccionRow | null; sourceLsn: string; sourceXid: string | null }
  | { table: 'Multa'; key: string; version: RowVersion; row: MultaRow | null; sourceLsn: string; sourceXid: string | null };

type PaymentChange = Extract<PreparedChange, { table: 'PagoPrestamo' }>;
type LoanChange = Extract<PreparedChange, { table: 'Prestamo' }>;

export interface RowKey {
  table: CapturedTable;
  id: string;
}

export const stateKey = (table: string, id: string) => `${table}\u0000${id}`;
export const ledgerKey = (type: MovementType, rowId: string) => `${type}\u0000${rowId}`;

/** The version-guard state of one legacy row (prestamos_cdc.row_state). */
export interface GuardState {
  table: CapturedTable;
  rowId: string;
  /** newest version applied; null: never applied */
  version: RowVersion | null;
  deleted: boolean;
  /** the junta whose ledger holds `worth` for the row */
  juntaId: string | null;
  /** signed cents the ledger holds for the row (IN positive); null: not known, read the ledger */
  worth: bigint | null;
}

/** A PrestamoNew row: the legacy loan's fields (its notes known), its aggregates, where it came from. */
export interface ShadowLoan extends Omit<LoanRow, 'notes'>, LoanAggregates {
  notes: string | null;
  sourceLsn: string;
  sourceXid: string | null;
}

export interface ShadowPayment {
  id: string;
  prestamoId: string;
  amount: bigint;
  principalAmount: bigint | null;
  interestAmount: bigint | null;
  paidAt: string;
  status: PaymentStatus;
  createdAt: string;
  updatedAt: string;
  sourceLsn: string;
  sourceXid: string | null;
}

// ---- rowsToLock ------------------------------------------------------------------------------------

/** Payment keys of the batch: where each belonged before is read before locking. */
export function paymentKeys(changes: readonly PreparedChange[]): string[] {
  return [...new Set(changes.filter((c) => c.table === 'PagoPrestamo').map((c) => c.key))];
}

/** The stateKey of every row of the batch. */
export function batchKeys(changes: readonly PreparedChange[]): Set<string> {
  return new Set(changes.map((c) => stateKey(c.table, c.key)));
}

/** Every row of the batch and every loan involved (a payment's new and previous loan), in key order. */
export function rowsToLock(changes: readonly PreparedChange[], previousLoanOfPayment: ReadonlyMap<string, string>): RowKey[] {
  const keys = new Map<string, RowKey>();
  const add = (table: CapturedTable, id: string) => keys.set(stateKey(table, id), { table, id });
  for (const c of changes) {
    add(c.table, c.key);
    if (c.table === 'PagoPrestamo' && c.row) add('Prestamo', c.row.prestamoId);
  }
  for (const l of previousLoanOfPayment.values()) add('Prestamo', l);
  return [...keys.values()].sort((a, b) => (a.table === b.table ? (a.id < b.id ? -1 : a.id > b.id ? 1 : 0) : a.table < b.table ? -1 : 1));
}

// ---- foldVersions ----------------------------------------------------------------------------------

export interface VersionFold {
  /** the newest version of each row in the batch that supersedes what was held, by stateKey */
  winners: Map<string, PreparedChange>;
  applied: number;
  /** the table of each change that superseded nothing */
  stale: CapturedTable[];
}

/**
 * The version guard over the batch in stream order, starting from the versions held. `floors`: per
 * table, the newest TRUNCATE applied; a change older than it changes nothing (one committed before
 * the truncate but consumed after it, from another partition). The truncate's own deletes carry its
 * version, the floor's: they are not older than it, and remove what they must.
 */
export function foldVersions(
  changes: readonly PreparedChange[],
  states: ReadonlyMap<string, GuardState>,
  floors: ReadonlyMap<CapturedTable, RowVersion> = new Map(),
): VersionFold {
  const winners = new Map<string, PreparedChange>();
  const stale: CapturedTable[] = [];
  let applied = 0;
  for (const c of changes) {
    const k = stateKey(c.table, c.key);
    const state = states.get(k);
    if (!state) throw new Error(`version guard: ${c.table} ${c.key} was not locked`);
    const previous = winners.get(k);
    const floor = floors.get(c.table);
    // older than the floor: stale. At the floor exactly: the truncate's own deletes, which must win.
    if ((floor && supersedes(floor, c.version)) || !supersedes(c.version, previous?.version ?? state.version)) {
      stale.push(c.table);
      continue;
    }
    // An update that did not send its TOASTed notes inherits them from the version it replaces.
    if (c.table === 'Prestamo' && c.row && c.row.notes === undefined && previous?.table === 'Prestamo' && previous.row && previous.row.notes !== undefined) {
      winners.set(k, { ...c, row: { ...c.row, notes: previous.row.notes } });
    } else {
      winners.set(k, c);
    }
    applied++;
  }
  return { winners, applied, stale };
}

// ---- shadowRowsToRead ------------------------------------------------------------------------------

/** The loans the winners affect (their own, a payment's new and previous loan) and the winning payments. */
export function shadowRowsToRead(winners: ReadonlyMap<string, PreparedChange>, previousLoanOfPayment: ReadonlyMap<string, string>): { loans: string[]; payments: string[] } {
  const loans = new Set<string>();
  const payments: string[] = [];
  for (const c of winners.values()) {
    if (c.table === 'Prestamo') loans.add(c.key);
    if (c.table === 'PagoPrestamo') {
      payments.push(c.key);
      if (c.row) loans.add(c.row.prestamoId);
      const before = previousLoanOfPayment.get(c.key);
      if (before) loans.add(before);
    }
  }
  return { loans: [...loans], payments };
}

// ---- loansToRecompute ------------------------------------------------------------------------------

/**
 * Loans whose aggregates (and payments' splits or worth) must be recomputed from all their payments:
 * `payments` holds the winning payments' shadow rows as held.
 */
export function loansToRecompute(
  winners: ReadonlyMap<string, PreparedChange>,
  loans: ReadonlyMap<string, ShadowLoan>,
  payments: ReadonlyMap<string, ShadowPayment>,
  rolledBack: ReadonlySet<string>,
): Set<string> {
  const out = new Set<string>();
  for (const c of winners.values()) {
    if (c.table === 'Prestamo') {
      const held = loans.get(c.key);
      const gone = c.row === null || rolledBack.has(c.key);
      if (gone) {
        if (held) out.add(c.key);
      } else if (!held || c.version.kind === 'snapshot' || held.rate4 !== c.row!.rate4 || held.installments !== c.row!.installments || held.juntaId !== c.row!.juntaId) {
        out.add(c.key);
      }
    } else if (c.table === 'PagoPrestamo') {
      // a registered payment that may have been its loan's newest leaves or changes: the newest is unknown
      const old = payments.get(c.key);
      if (!old || old.status !== 'registered') continue;
      const loan = loans.get(old.prestamoId);
      if (loan && (loan.lastPaymentAt === null || old.paidAt >= loan.lastPaymentAt)) out.add(old.prestamoId);
    }
  }
  return out;
}

// ---- planRows --------------------------------------------------------------------------------------

/** A legacy row whose worth to its junta may have changed. */
export interface WorthCheck {
  ref: LedgerRowRef;
  desired: Worth | null;
  /** what the ledger holds for the row, per junta; null: read the ledger */
  held: ReadonlyMap<string, bigint> | null;
  sourceLsn: string | null;
  /** the guard state to write: a new version (a winner), or only the worth held */
  state: GuardState;
  versionChanged: boolean;
}

export interface RowsPlan {
  loanUpserts: ShadowLoan[];
  loanDeletes: string[];
  paymentUpserts: ShadowPayment[];
  paymentDeletes: string[];
  worthChecks: WorthCheck[];
  /** loans whose TOASTed notes were not sent and are not held: to re-sync by snapshot */
  loansToResync: string[];
}

export interface RowsInput {
  winners: ReadonlyMap<string, PreparedChange>;
  states: ReadonlyMap<string, GuardState>;
  rolledBack: ReadonlySet<string>;
  /** held shadow loans of every affected loan */
  loans: ReadonlyMap<string, ShadowLoan>;
  /** held shadow payments: the winners', and every payment of the loans to recompute */
  payments: ReadonlyMap<string, ShadowPayment>;
  recompute: ReadonlySet<string>;
}

const EMPTY: ReadonlyMap<string, bigint> = new Map();

function heldWorth(state: GuardState): ReadonlyMap<string, bigint> | null {
  if (state.worth === null) return null;
  if (state.worth === 0n || state.juntaId === null) return EMPTY;
  return new Map([[state.juntaId, state.worth]]);
}

/** The worth held by a winner's guard state, unless a snapshot re-reads a row applied before. */
function trustedWorth(state: GuardState, c: PreparedChange): ReadonlyMap<string, bigint> | null {
  return c.version.kind === 'change' || state.version === null ? heldWorth(state) : null;
}

function loanFromRow(c: LoanChange & { row: LoanRow }, held: ShadowLoan | undefined): { loan: ShadowLoan; notesUnknown: boolean } {
  let notes = c.row.notes;
  let notesUnknown = false;
  if (notes === undefined) {
    // TOASTed notes, unchanged and not sent: keep what is held; without it, re-read the loan.
    notes = held?.notes ?? null;
    notesUnknown = !held;
  }
  const loan: ShadowLoan = {
    ...(held ?? ZERO_AGGREGATES),
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
  };
  return { loan, notesUnknown };
}

function paymentFromRow(c: PaymentChange & { row: PaymentRow }): ShadowPayment {
  return {
    id: c.row.id,
    prestamoId: c.row.prestamoId,
    amount: c.row.amount,
    principalAmount: null,
    interestAmount: null,
    paidAt: c.row.paidAt,
    status: c.row.voided ? 'voided' : 'registered',
    createdAt: c.row.createdAt,
    updatedAt: c.row.updatedAt,
    sourceLsn: c.sourceLsn,
    sourceXid: c.sourceXid,
  };
}

function withSplit(p: ShadowPayment, loan: ShadowLoan | undefined): ShadowPayment {
  if (!loan) return p.principalAmount === null && p.interestAmount === null ? p : { ...p, principalAmount: null, interestAmount: null };
  const split = interestSplit(p.amount, loan.rate4, loan.installments);
  return p.principalAmount === split.principal && p.interestAmount === split.interest ? p : { ...p, principalAmount: split.principal, interestAmount: split.interest };
}

/** Aggregates of a held loan moved by the winning payments' differences. */
function movedAggregates(loan: ShadowLoan, held: ShadowLoan, winnerPayments: readonly string[], before: ReadonlyMap<string, ShadowPayment>, after: ReadonlyMap<string, ShadowPayment>): LoanAggregates {
  let { totalPaid, principalPaid, interestPaid, paymentsCount, lastPaymentAt } = held;
  for (const id of winnerPayments) {
    const old = before.get(id);
    if (old && old.prestamoId === loan.id && old.status === 'registered') {
      totalPaid -= old.amount;
      principalPaid -= old.principalAmount ?? 0n;
      interestPaid -= old.interestAmount ?? 0n;
      paymentsCount--;
    }
    const now = after.get(id);
    if (now && now.prestamoId === loan.id && now.status === 'registered') {
      totalPaid += now.amount;
      principalPaid += now.principalAmount ?? 0n;
      interestPaid += now.interestAmount ?? 0n;
      paymentsCount++;
      if (lastPaymentAt === null || now.paidAt > lastPaymentAt) lastPaymentAt = now.paidAt;
    }
  }
  return { totalPaid, principalPaid, interestPaid, paymentsCount, lastPaymentAt, outstandingPrincipal: (isDisbursed(loan.status) ? loan.principal : 0n) - principalPaid };
}

export function planRows(input: RowsInput): RowsPlan {
  const { winners, states, rolledBack, loans, payments, recompute } = input;
  const finalLoans = new Map(loans);
  const finalPayments = new Map(payments);
  const loansToResync: string[] = [];
  const worthChecks: WorthCheck[] = [];
  const winnerPayments: string[] = [];
  const winnerLoans = new Set<string>();

  // the winners' rows
  for (const c of winners.values()) {
    if (c.table === 'Prestamo') {
      winnerLoans.add(c.key);
      if (c.row === null || rolledBack.has(c.key)) finalLoans.delete(c.key);
      else {
        const { loan, notesUnknown } = loanFromRow(c as LoanChange & { row: LoanRow }, loans.get(c.key));
        if (notesUnknown) loansToResync.push(c.key);
        finalLoans.set(c.key, loan);
      }
    } else if (c.table === 'PagoPrestamo') {
      winnerPayments.push(c.key);
      if (c.row === null || rolledBack.has(c.row.prestamoId)) finalPayments.delete(c.key);
      else finalPayments.set(c.key, paymentFromRow(c as PaymentChange & { row: PaymentRow }));
    }
  }

  // splits: the winning payments, and every payment of a loan recomputed
  for (const id of winnerPayments) {
    const p = finalPayments.get(id);
    if (p) finalPayments.set(id, withSplit(p, finalLoans.get(p.prestamoId)));
  }
  const paymentsOf = new Map<string, ShadowPayment[]>();
  for (const [id, p] of finalPayments) {
    if (!recompute.has(p.prestamoId)) continue;
    const split = withSplit(p, finalLoans.get(p.prestamoId));
    finalPayments.set(id, split);
    let list = paymentsOf.get(p.prestamoId);
    if (!list) paymentsOf.set(p.prestamoId, (list = []));
    list.push(split);
  }

  // aggregates of every loan affected; the winning payments that left or joined each loan
  const changedPaymentsOf = new Map<string, string[]>();
  for (const id of winnerPayments) {
    for (const loanId of new Set([payments.get(id)?.prestamoId, finalPayments.get(id)?.prestamoId])) {
      if (loanId === undefined) continue;
      let list = changedPaymentsOf.get(loanId);
      if (!list) changedPaymentsOf.set(loanId, (list = []));
      list.push(id);
    }
  }
  for (const [id, loan] of finalLoans) {
    const held = loans.get(id);
    if (recompute.has(id)) {
      const facts = (paymentsOf.get(id) ?? []).map((p) => ({ amount: p.amount, status: p.status, paidAt: p.paidAt, interest: p.interestAmount, principal: p.principalAmount }));
      finalLoans.set(id, { ...loan, ...loanAggregates(loan.principal, loan.status, facts) });
    } else if (held) {
      finalLoans.set(id, { ...loan, ...movedAggregates(loan, held, changedPaymentsOf.get(id) ?? [], payments, finalPayments) });
    } else {
      throw new Error(`apply plan: loan ${id} is new but not recomputed`);
    }
  }

  // worth of every winner
  for (const [k, c] of winners) {
    const state = states.get(k)!;
    let desired: Worth | null;
    let ref: LedgerRowRef;
    const sourceLsn: string | null = c.sourceLsn;
    let deleted = c.row === null;
    if (c.table === 'Prestamo') {
      const loan = finalLoans.get(c.key);
      deleted = !loan;
      desired = loanWorth(loan ? { juntaId: loan.juntaId, principal: loan.principal, disbursed: isDisbursed(loan.status) } : null);
      ref = { type: 'PRESTAMO', rowId: c.key };
    } else if (c.table === 'PagoPrestamo') {
      const p = finalPayments.get(c.key);
      deleted = !p;
      desired = paymentWorth(p ? { amount: p.amount, voided: p.status === 'voided' } : null, p ? (finalLoans.get(p.prestamoId)?.juntaId ?? null) : null);
      ref = { type: 'PAGO', rowId: c.key, prestamoId: p?.prestamoId ?? payments.get(c.key)?.prestamoId ?? null };
    } else if (c.table === 'Accion') {
      desired = accionWorth(c.row);
      ref = { type: 'ACCION', rowId: c.key };
    } else {
      desired = multaWorth(c.row);
      ref = { type: 'MULTA', rowId: c.key };
    }
    const juntaId = desired?.juntaId ?? (c.table === 'Accion' || c.table === 'Multa' ? (c.row?.juntaId ?? state.juntaId) : state.juntaId);
    worthChecks.push({
      ref,
      desired,
      held: trustedWorth(state, c),
      sourceLsn,
      state: { ...state, version: c.version, deleted, juntaId, worth: desired?.cents ?? 0n },
      versionChanged: true,
    });
  }

  // payments that did not change but whose loan moved to another junta, appeared or went away
  for (const id of recompute) {
    const before = loans.get(id)?.juntaId ?? null;
    const after = finalLoans.get(id)?.juntaId ?? null;
    if (before === after) continue;
    for (const p of paymentsOf.get(id) ?? []) {
      if (winners.has(stateKey('PagoPrestamo', p.id))) continue;
      const desired = paymentWorth({ amount: p.amount, voided: p.status === 'voided' }, after);
      worthChecks.push({
        ref: { type: 'PAGO', rowId: p.id, prestamoId: id },
        desired,
        held: null,
        sourceLsn: p.sourceLsn,
        state: { table: 'PagoPrestamo', rowId: p.id, version: null, deleted: false, juntaId: desired?.juntaId ?? null, worth: desired?.cents ?? 0n },
        versionChanged: false,
      });
    }
  }

  const touchedPayment = (id: string) => winners.has(stateKey('PagoPrestamo', id));
  return {
    loanUpserts: [...finalLoans.values()].filter((l) => !sameLoan(l, loans.get(l.id))),
    loanDeletes: [...loans.keys()].filter((id) => !finalLoans.has(id)),
    paymentUpserts: [...finalPayments.values()].filter((p) => (touchedPayment(p.id) || recompute.has(p.prestamoId)) && !samePayment(p, payments.get(p.id))),
    paymentDeletes: [...payments.keys()].filter((id) => !finalPayments.has(id)),
    worthChecks,
    loansToResync,
  };
}

// ---- ledgerRowsToRead, planLedger ------------------------------------------------------------------

export interface LedgerRows {
  loans: string[];
  payments: string[];
  acciones: string[];
  multas: string[];
}

/** Rows whose worth held must be read from the ledger itself. */
export function ledgerRowsToRead(checks: readonly WorthCheck[]): LedgerRows {
  const rows: LedgerRows = { loans: [], payments: [], acciones: [], multas: [] };
  for (const c of checks) {
    if (c.held !== null) continue;
    const list = c.ref.type === 'PRESTAMO' ? rows.loans : c.ref.type === 'PAGO' ? rows.payments : c.ref.type === 'ACCION' ? rows.acciones : rows.multas;
    list.push(c.ref.rowId);
  }
  return rows;
}

export interface LedgerPlan {
  movements: (Movement & { sourceLsn: string | null })[];
  /** guard states with a new version */
  states: GuardState[];
  /** guard states whose worth held changed but not their version */
  worthOnly: GuardState[];
}

/** `ledger`: the ledger's signed sum per junta of each row read (by ledgerKey). */
export function planLedger(checks: readonly WorthCheck[], ledger: ReadonlyMap<string, ReadonlyMap<string, bigint>>): LedgerPlan {
  const plan: LedgerPlan = { movements: [], states: [], worthOnly: [] };
  for (const c of checks) {
    const current = c.held ?? ledger.get(ledgerKey(c.ref.type, c.ref.rowId)) ?? EMPTY;
    for (const m of ledgerCorrections(c.ref, c.desired, current)) plan.movements.push({ ...m, sourceLsn: c.sourceLsn });
    (c.versionChanged ? plan.states : plan.worthOnly).push(c.state);
  }
  return plan;
}

// ---- helpers ---------------------------------------------------------------------------------------

const ZERO_AGGREGATES: LoanAggregates = {
  totalPaid: 0n,
  principalPaid: 0n,
  interestPaid: 0n,
  outstandingPrincipal: 0n,
  paymentsCount: 0,
  lastPaymentAt: null,
};

export function sameLoan(a: ShadowLoan, b: ShadowLoan | undefined): boolean {
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

export function samePayment(a: ShadowPayment, b: ShadowPayment | undefined): boolean {
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
