// The pure apply plan, without PostgreSQL: an in-memory store runs the plan's steps the way
// services/sync/applier.ts does, and after every batch of a random workload the shadow rows, the guard
// state and the ledger are compared with what the legacy rows imply, derived from scratch.
import { describe, expect, it } from 'vitest';
import * as plan from '../../../services/domain/apply-plan.ts';
import type { PreparedChange, GuardState, ShadowLoan, ShadowPayment, RowKey } from '../../../services/domain/apply-plan.ts';
import { interestSplit, loanAggregates, isDisbursed, type LoanStatus } from '../../../services/domain/derivations.ts';
import { loanWorth, paymentWorth, accionWorth, type Movement } from '../../../services/domain/ledger.ts';
import { parsePgSnapshot } from '../../../services/domain/visibility.ts';
import type { LoanRow, PaymentRow } from '../../../services/domain/legacy-rows.ts';
import type { RowVersion } from '../../../services/domain/version-guard.ts';

class MemoryStore {
  states = new Map<string, GuardState>();
  loans = new Map<string, ShadowLoan>();
  payments = new Map<string, ShadowPayment>();
  ledger: Movement[] = [];
  rolledBack = new Set<string>();
  /** rows the plan asked to read from the ledger itself */
  ledgerReads = 0;

  ledgerSums(rows: plan.LedgerRows): Map<string, Map<string, bigint>> {
    const wanted = new Set([
      ...rows.loans.map((id) => plan.ledgerKey('PRESTAMO', id)),
      ...rows.payments.map((id) => plan.ledgerKey('PAGO', id)),
      ...rows.acciones.map((id) => plan.ledgerKey('ACCION', id)),
      ...rows.multas.map((id) => plan.ledgerKey('MULTA', id)),
    ]);
    this.ledgerReads += wanted.size;
    const out = new Map<string, Map<string, bigint>>();
    for (const m of this.ledger) {
      const k = plan.ledgerKey(m.type, m.type === 'PRESTAMO' ? m.prestamoId! : m.type === 'PAGO' ? m.pagoId! : m.type === 'ACCION' ? m.accionId! : m.multaId!);
      if (!wanted.has(k)) continue;
      let j = out.get(k);
      if (!j) out.set(k, (j = new Map()));
      j.set(m.juntaId, (j.get(m.juntaId) ?? 0n) + (m.direction === 'IN' ? m.amount : -m.amount));
    }
    return out;
  }

  lock(keys: RowKey[]): Map<string, GuardState> {
    const out = new Map<string, GuardState>();
    for (const k of keys) {
      const key = plan.stateKey(k.table, k.id);
      if (!this.states.has(key)) this.states.set(key, { table: k.table, rowId: k.id, version: null, deleted: false, juntaId: null, worth: 0n });
      out.set(key, { ...this.states.get(key)! });
    }
    return out;
  }

  paymentsOf(loanIds: Iterable<string>): Map<string, ShadowPayment> {
    const ids = new Set(loanIds);
    return new Map([...this.payments].filter(([, p]) => ids.has(p.prestamoId)).map(([id, p]) => [id, { ...p }]));
  }

  /** The steps of Applier.applyChanges, on memory. */
  apply(changes: PreparedChange[]): { applied: number; stale: number; movements: Movement[] } {
    const previousLoanOfPayment = new Map(plan.paymentKeys(changes).filter((id) => this.payments.has(id)).map((id) => [id, this.payments.get(id)!.prestamoId]));
    const states = this.lock(plan.rowsToLock(changes, previousLoanOfPayment));
    const fold = plan.foldVersions(changes, states);
    if (fold.winners.size === 0) return { applied: 0, stale: fold.stale.length, movements: [] };
    const toRead = plan.shadowRowsToRead(fold.winners, previousLoanOfPayment);
    const rolledBack = new Set(toRead.loans.filter((id) => this.rolledBack.has(id)));
    const loans = new Map(toRead.loans.filter((id) => this.loans.has(id)).map((id) => [id, { ...this.loans.get(id)! }]));
    const payments = new Map(toRead.payments.filter((id) => this.payments.has(id)).map((id) => [id, { ...this.payments.get(id)! }]));
    const recompute = plan.loansToRecompute(fold.winners, loans, payments, rolledBack);
    for (const [id, p] of this.paymentsOf(recompute)) payments.set(id, p);
    const rows = plan.planRows({ winners: fold.winners, states, rolledBack, loans, payments, recompute });
    const ledger = plan.planLedger(rows.worthChecks, this.ledgerSums(plan.ledgerRowsToRead(rows.worthChecks)));
    for (const s of ledger.states) this.states.set(plan.stateKey(s.table, s.rowId), s);
    for (const s of ledger.worthOnly) {
      const k = plan.stateKey(s.table, s.rowId);
      this.states.set(k, { ...this.states.get(k)!, juntaId: s.juntaId, worth: s.worth });
    }
    for (const id of rows.paymentDeletes) this.payments.delete(id);
    for (const id of rows.loanDeletes) this.loans.delete(id);
    for (const l of rows.loanUpserts) this.loans.set(l.id, l);
    for (const p of rows.paymentUpserts) this.payments.set(p.id, p);
    this.ledger.push(...ledger.movements);
    return { applied: fold.applied, stale: fold.stale.length, movements: ledger.movements };
  }
}

// ---- a legacy model and what it implies --------------------------------------------------------------

interface LegacyLoan {
  id: string;
  juntaId: string;
  principal: bigint;
  rate4: bigint;
  installments: number;
  status: LoanStatus;
}
interface LegacyPayment {
  id: string;
  prestamoId: string;
  amount: bigint;
  paidAt: string;
  voided: boolean;
}

const T0 = '2025-01-01T00:00:00.000000Z';
function loanRow(l: LegacyLoan): LoanRow {
  return { id: l.id, juntaId: l.juntaId, memberId: 'm', principal: l.principal, rate4: l.rate4, installments: l.installments, status: l.status, disbursedAt: null, dueAt: null, notes: null, createdAt: T0, updatedAt: T0 };
}
function paymentRow(p: LegacyPayment): PaymentRow {
  return { id: p.id, prestamoId: p.prestamoId, amount: p.amount, paidAt: p.paidAt, voided: p.voided, createdAt: T0, updatedAt: T0 };
}

function expectImplied(store: MemoryStore, loans: Map<string, LegacyLoan>, payments: Map<string, LegacyPayment>): void {
  // shadow payments: every legacy payment, split by its loan's terms (none while the loan is unknown)
  expect([...store.payments.keys()].sort()).toEqual([...payments.keys()].sort());
  for (const p of payments.values()) {
    const held = store.payments.get(p.id)!;
    const loan = loans.get(p.prestamoId);
    const split = loan ? interestSplit(p.amount, loan.rate4, loan.installments) : null;
    expect({ id: p.id, loan: held.prestamoId, amount: held.amount, interest: held.interestAmount, principal: held.principalAmount, status: held.status }).toEqual({
      id: p.id,
      loan: p.prestamoId,
      amount: p.amount,
      interest: split?.interest ?? null,
      principal: split?.principal ?? null,
      status: p.voided ? 'voided' : 'registered',
    });
  }
  // shadow loans: aggregates over all their payments
  expect([...store.loans.keys()].sort()).toEqual([...loans.keys()].sort());
  for (const l of loans.values()) {
    const mine = [...payments.values()].filter((p) => p.prestamoId === l.id);
    const facts = mine.map((p) => {
      const s = interestSplit(p.amount, l.rate4, l.installments);
      return { amount: p.amount, status: p.voided ? ('voided' as const) : ('registered' as const), paidAt: p.paidAt, interest: s.interest, principal: s.principal };
    });
    const held = store.loans.get(l.id)!;
    const { totalPaid, principalPaid, interestPaid, outstandingPrincipal, paymentsCount, lastPaymentAt } = held;
    expect({ id: l.id, totalPaid, principalPaid, interestPaid, outstandingPrincipal, paymentsCount, lastPaymentAt }).toEqual({ id: l.id, ...loanAggregates(l.principal, l.status, facts) });
  }
  // the ledger: for every row, the signed sum per junta equals its worth; the guard state holds the same
  const reads = store.ledgerReads;
  const sums = store.ledgerSums({ loans: [...store.states.values()].filter((s) => s.table === 'Prestamo').map((s) => s.rowId), payments: [...store.states.values()].filter((s) => s.table === 'PagoPrestamo').map((s) => s.rowId), acciones: [], multas: [] });
  for (const s of store.states.values()) {
    let worth = null;
    if (s.table === 'Prestamo') {
      const l = loans.get(s.rowId);
      worth = loanWorth(l ? { juntaId: l.juntaId, principal: l.principal, disbursed: isDisbursed(l.status) } : null);
    } else if (s.table === 'PagoPrestamo') {
      const p = payments.get(s.rowId);
      worth = paymentWorth(p ? { amount: p.amount, voided: p.voided } : null, p ? (loans.get(p.prestamoId)?.juntaId ?? null) : null);
    } else continue;
    const ledger = [...(sums.get(plan.ledgerKey(s.table === 'Prestamo' ? 'PRESTAMO' : 'PAGO', s.rowId)) ?? new Map<string, bigint>())].filter(([, v]) => v !== 0n);
    expect({ row: s.rowId, ledger }).toEqual({ row: s.rowId, ledger: worth ? [[worth.juntaId, worth.cents]] : [] });
    expect({ row: s.rowId, worth: s.worth, junta: s.worth ? s.juntaId : null }).toEqual({ row: s.rowId, worth: worth?.cents ?? 0n, junta: worth?.juntaId ?? null });
  }
  store.ledgerReads = reads;
}

// deterministic pseudo-random numbers
function rng(seed: number) {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 2 ** 32;
  };
}

const STATUSES: LoanStatus[] = ['pending', 'approved', 'disbursed', 'paid', 'overdue', 'cancelled'];

describe('apply plan on a random workload', () => {
  for (const seed of [1, 2, 3, 4, 5, 6]) {
    it(`seed ${seed}: shadow rows, guard state and ledger equal what the legacy rows imply after every batch`, () => {
      const r = rng(seed);
      const pick = <T>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!;
      const store = new MemoryStore();
      const loans = new Map<string, LegacyLoan>();
      const payments = new Map<string, LegacyPayment>();
      let lsn = 0x1000n;
      let n = 0;
      const loanIds = ['L1', 'L2', 'L3', 'L4'];
      for (let batch = 0; batch < 60; batch++) {
        const changes: PreparedChange[] = [];
        const size = 1 + Math.floor(r() * 12);
        for (let i = 0; i < size; i++) {
          lsn += 16n;
          const version: RowVersion = { kind: 'change', lsn, seq: i, xid: 1000n + lsn };
          const at = { version, sourceLsn: `0/${lsn.toString(16)}`, sourceXid: String(1000n + lsn) };
          const op = r();
          const existing = [...payments.values()];
          if (op < 0.3) {
            const id = `G${++n}`;
            const p: LegacyPayment = { id, prestamoId: pick(loanIds), amount: BigInt(100 + Math.floor(r() * 50000)), paidAt: `2025-01-${String(1 + Math.floor(r() * 28)).padStart(2, '0')}T00:00:00.000000Z`, voided: false };
            payments.set(id, p);
            changes.push({ table: 'PagoPrestamo', key: id, row: paymentRow(p), ...at });
          } else if (op < 0.5 && existing.length > 0) {
            const p = { ...pick(existing) };
            const what = r();
            if (what < 0.25) p.voided = !p.voided;
            else if (what < 0.5) p.amount = BigInt(100 + Math.floor(r() * 50000));
            else if (what < 0.75) p.prestamoId = pick(loanIds);
            else p.paidAt = `2025-02-${String(1 + Math.floor(r() * 28)).padStart(2, '0')}T00:00:00.000000Z`;
            payments.set(p.id, p);
            changes.push({ table: 'PagoPrestamo', key: p.id, row: paymentRow(p), ...at });
          } else if (op < 0.58 && existing.length > 0) {
            const p = pick(existing);
            payments.delete(p.id);
            changes.push({ table: 'PagoPrestamo', key: p.id, row: null, ...at });
          } else if (op < 0.92) {
            const id = pick(loanIds);
            const l: LegacyLoan = { ...(loans.get(id) ?? { id, juntaId: 'ja', principal: 100000n, rate4: 250n, installments: 12, status: 'pending' }) };
            const what = r();
            if (what < 0.3) l.status = pick(STATUSES);
            else if (what < 0.5) [l.rate4, l.installments] = [BigInt(100 + Math.floor(r() * 400)), 1 + Math.floor(r() * 24)];
            else if (what < 0.7) l.juntaId = pick(['ja', 'jb', 'jc']);
            else if (what < 0.85) l.principal = BigInt(10000 + Math.floor(r() * 900000));
            loans.set(id, l);
            changes.push({ table: 'Prestamo', key: id, row: loanRow(l), ...at });
          } else if (loans.size > 0) {
            const id = pick([...loans.keys()]);
            loans.delete(id);
            changes.push({ table: 'Prestamo', key: id, row: null, ...at });
          }
        }
        store.apply(changes);
        expectImplied(store, loans, payments);
        // a replay of the same batch changes nothing and appends nothing
        const replay = store.apply(changes);
        expect(replay).toEqual({ applied: 0, stale: changes.length, movements: [] });
      }
      // the ledger is read back only for the unchanged payments of a loan that changed junta, appeared or
      // went away: every other worth is held beside the version
      expect(store.ledgerReads).toBeLessThan(store.ledger.length);
    });
  }
});

describe('worth held beside the version', () => {
  const change = (lsn: bigint, seq = 0): RowVersion => ({ kind: 'change', lsn, seq, xid: lsn });
  const snapshot = (lsn: bigint, text: string): RowVersion => ({ kind: 'snapshot', lsn, snapshot: parsePgSnapshot(text) });
  const accion = (cantidad: number) => ({ id: 'a1', juntaId: 'ja', cantidad, valorUnitario: 1000n, affectsCapital: true });

  it('trusts the worth held for streamed changes and reads the ledger for a snapshot of a row applied before', () => {
    const store = new MemoryStore();
    store.apply([{ table: 'Accion', key: 'a1', version: change(100n), row: accion(2), sourceLsn: '0/100', sourceXid: '100' }]);
    store.apply([{ table: 'Accion', key: 'a1', version: change(200n), row: accion(3), sourceLsn: '0/200', sourceXid: '200' }]);
    expect(store.ledgerReads).toBe(0);
    expect(store.states.get(plan.stateKey('Accion', 'a1'))).toMatchObject({ juntaId: 'ja', worth: 3000n });
    // something outside the apply wrote the ledger: a snapshot re-sync of the row repairs it
    store.ledger.push({ juntaId: 'ja', type: 'ACCION', direction: 'IN', amount: 500n, description: 'stray', prestamoId: null, pagoId: null, accionId: 'a1', multaId: null });
    const resync = store.apply([{ table: 'Accion', key: 'a1', version: snapshot(300n, '300:300:'), row: accion(3), sourceLsn: '0/300', sourceXid: null }]);
    expect(store.ledgerReads).toBe(1);
    expect(resync.movements.map((m) => [m.direction, m.amount])).toEqual([['OUT', 500n]]);
  });

  it('reads the ledger when the worth held is not known (state written before it was kept)', () => {
    const store = new MemoryStore();
    store.ledger.push({ juntaId: 'ja', type: 'ACCION', direction: 'IN', amount: 2000n, description: 'earlier', prestamoId: null, pagoId: null, accionId: 'a1', multaId: null });
    store.states.set(plan.stateKey('Accion', 'a1'), { table: 'Accion', rowId: 'a1', version: change(100n), deleted: false, juntaId: 'ja', worth: null });
    const out = store.apply([{ table: 'Accion', key: 'a1', version: change(200n), row: accion(3), sourceLsn: '0/200', sourceXid: '200' }]);
    expect(out.movements.map((m) => [m.direction, m.amount])).toEqual([['IN', 1000n]]);
    expect(store.states.get(plan.stateKey('Accion', 'a1'))!.worth).toBe(accionWorth(accion(3))!.cents);
  });

  it('moves the unchanged payments of a loan that changes junta, reading their ledger', () => {
    const store = new MemoryStore();
    const loan: LegacyLoan = { id: 'L', juntaId: 'ja', principal: 1000n, rate4: 100n, installments: 2, status: 'disbursed' };
    const pay: LegacyPayment = { id: 'G', prestamoId: 'L', amount: 300n, paidAt: T0, voided: false };
    store.apply([
      { table: 'Prestamo', key: 'L', version: change(100n, 0), row: loanRow(loan), sourceLsn: '0/100', sourceXid: '100' },
      { table: 'PagoPrestamo', key: 'G', version: change(100n, 1), row: paymentRow(pay), sourceLsn: '0/100', sourceXid: '100' },
    ]);
    const moved = store.apply([{ table: 'Prestamo', key: 'L', version: change(200n), row: loanRow({ ...loan, juntaId: 'jb' }), sourceLsn: '0/200', sourceXid: '200' }]);
    expect(moved.movements.map((m) => [m.type, m.juntaId, m.direction, m.amount]).sort()).toEqual([
      ['PAGO', 'ja', 'OUT', 300n],
      ['PAGO', 'jb', 'IN', 300n],
      ['PRESTAMO', 'ja', 'IN', 1000n],
      ['PRESTAMO', 'jb', 'OUT', 1000n],
    ]);
    expect(store.states.get(plan.stateKey('PagoPrestamo', 'G'))).toMatchObject({ juntaId: 'jb', worth: 300n, version: change(100n, 1) });
  });
});

describe('loans to recompute', () => {
  const loan = (over: Partial<ShadowLoan> = {}): ShadowLoan => ({
    id: 'L', juntaId: 'ja', memberId: 'm', principal: 1000n, rate4: 100n, installments: 2, status: 'disbursed', disbursedAt: null, dueAt: null, notes: null,
    totalPaid: 300n, principalPaid: 290n, interestPaid: 10n, outstandingPrincipal: 710n, paymentsCount: 1, lastPaymentAt: '2025-01-05T00:00:00.000000Z',
    createdAt: T0, updatedAt: T0, sourceLsn: '0/1', sourceXid: '1', ...over,
  });
  const held = (paidAt: string): ShadowPayment => ({ id: 'G', prestamoId: 'L', amount: 300n, principalAmount: 290n, interestAmount: 10n, paidAt, status: 'registered', createdAt: T0, updatedAt: T0, sourceLsn: '0/1', sourceXid: '1' });
  const v: RowVersion = { kind: 'change', lsn: 10n, seq: 0, xid: 10n };
  const winner = (c: PreparedChange) => new Map([[plan.stateKey(c.table, c.key), c]]);
  const loanChange = (over: Partial<LoanRow>): PreparedChange => ({ table: 'Prestamo', key: 'L', version: v, row: { ...loanRow({ id: 'L', juntaId: 'ja', principal: 1000n, rate4: 100n, installments: 2, status: 'disbursed' }), ...over }, sourceLsn: '0/10', sourceXid: '10' });

  it('moves aggregates by differences for a status or principal change, recomputes for new terms, a new junta or a new loan', () => {
    const loans = new Map([['L', loan()]]);
    expect(plan.loansToRecompute(winner(loanChange({ status: 'paid' })), loans, new Map(), new Set())).toEqual(new Set());
    expect(plan.loansToRecompute(winner(loanChange({ principal: 2000n })), loans, new Map(), new Set())).toEqual(new Set());
    expect(plan.loansToRecompute(winner(loanChange({ rate4: 200n })), loans, new Map(), new Set())).toEqual(new Set(['L']));
    expect(plan.loansToRecompute(winner(loanChange({ juntaId: 'jb' })), loans, new Map(), new Set())).toEqual(new Set(['L']));
    expect(plan.loansToRecompute(winner(loanChange({})), new Map(), new Map(), new Set())).toEqual(new Set(['L']));
    expect(plan.loansToRecompute(winner({ ...loanChange({}), row: null }), loans, new Map(), new Set())).toEqual(new Set(['L']));
  });

  it('recomputes a loan whose newest payment changes, not one whose older payment does', () => {
    const loans = new Map([['L', loan()]]);
    const change: PreparedChange = { table: 'PagoPrestamo', key: 'G', version: v, row: null, sourceLsn: '0/10', sourceXid: '10' };
    expect(plan.loansToRecompute(winner(change), loans, new Map([['G', held('2025-01-05T00:00:00.000000Z')]]), new Set())).toEqual(new Set(['L']));
    expect(plan.loansToRecompute(winner(change), loans, new Map([['G', held('2025-01-01T00:00:00.000000Z')]]), new Set())).toEqual(new Set());
  });
});

describe('foldVersions with a truncation floor', () => {
  const state = (rowId: string): GuardState => ({ table: 'PagoPrestamo', rowId, version: null, deleted: false, juntaId: null, worth: 0n });
  const change = (key: string, lsn: bigint, xid: bigint): PreparedChange => ({
    table: 'PagoPrestamo',
    key,
    version: { kind: 'change', lsn, seq: 1, xid },
    row: null,
    sourceLsn: `0/${lsn.toString(16)}`,
    sourceXid: String(xid),
  });
  const floor: RowVersion = { kind: 'change', lsn: 0x3000n, seq: 1, xid: 702n };

  it('a change older than the table\'s last truncate is stale even for a row never applied; a newer one wins', () => {
    const states = new Map([['a', state('a')], ['b', state('b')]].map(([k, s]) => [plan.stateKey('PagoPrestamo', k as string), s as GuardState]));
    const fold = plan.foldVersions([change('a', 0x2000n, 701n), change('b', 0x4000n, 703n)], states, new Map([['PagoPrestamo', floor]]));
    expect([...fold.winners.keys()]).toEqual([plan.stateKey('PagoPrestamo', 'b')]);
    expect(fold.stale).toEqual(['PagoPrestamo']);
    // without the floor both win
    expect(plan.foldVersions([change('a', 0x2000n, 701n), change('b', 0x4000n, 703n)], states).winners.size).toBe(2);
  });

  it('the truncate\'s own deletes (at the floor\'s version) win over what they remove', () => {
    const held: GuardState = { ...state('a'), version: { kind: 'change', lsn: 0x2000n, seq: 1, xid: 701n } };
    const states = new Map([[plan.stateKey('PagoPrestamo', 'a'), held]]);
    const atTheTruncate: PreparedChange = { ...change('a', 0x3000n, 702n), row: null };
    const fold = plan.foldVersions([atTheTruncate], states, new Map([['PagoPrestamo', floor]]));
    expect([...fold.winners.keys()]).toEqual([plan.stateKey('PagoPrestamo', 'a')]);
    expect(fold.stale).toEqual([]);
  });

  it('a snapshot row wins over the floor exactly when its snapshot sees the truncate', () => {
    const states = new Map([[plan.stateKey('PagoPrestamo', 's'), state('s')]]);
    const snap = (text: string): PreparedChange => ({ ...change('s', 0x5000n, 0n), version: { kind: 'snapshot', lsn: 0x5000n, snapshot: parsePgSnapshot(text) } });
    const floors = new Map([['PagoPrestamo' as const, floor]]);
    expect(plan.foldVersions([snap('710:710:')], states, floors).winners.size).toBe(1);
    expect(plan.foldVersions([snap('700:705:702')], states, floors).winners.size).toBe(0);
  });
});
