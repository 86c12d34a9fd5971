// SQL of the apply path: set-based reads and writes of the version-guard state, the shadow tables, the
// ledger and the consumer offsets, one statement per kind of row per batch (unnest of arrays). All
// functions run on the caller's client, inside the caller's transaction.
import type pg from 'pg';
import { formatCents, cents, parseFixed, toScale } from '../domain/decimal.ts';
import { parseLsn, formatLsn } from '../domain/lsn.ts';
import { parsePgSnapshot, type PgSnapshot } from '../domain/visibility.ts';
import type { RowVersion } from '../domain/version-guard.ts';
import type { LoanStatus, PaymentStatus } from '../domain/derivations.ts';
import type { Movement, MovementType } from '../domain/ledger.ts';
import { ledgerKey } from '../domain/apply-plan.ts';
import type { CapturedTable } from '../domain/change-event.ts';
import { stateKey, type GuardState, type RowKey, type ShadowLoan, type ShadowPayment } from '../domain/apply-plan.ts';

export type Client = Pick<pg.PoolClient, 'query'>;

export { stateKey, ledgerKey, type RowKey, type ShadowLoan, type ShadowPayment } from '../domain/apply-plan.ts';
/** The version-guard state of one row (prestamos_cdc.row_state). */
export type StateRow = GuardState;

const ISO = (col: string) => `to_char(${col} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')`;

// pg_snapshot texts repeat across thousands of rows of one chunk: parse each once.
const snapshotCache = new Map<string, PgSnapshot>();
function cachedSnapshot(text: string): PgSnapshot {
  let s = snapshotCache.get(text);
  if (!s) {
    if (snapshotCache.size > 1000) snapshotCache.clear();
    s = parsePgSnapshot(text);
    snapshotCache.set(text, s);
  }
  return s;
}

function versionOf(lsn: string | null, seq: number | null, xid: string | null, snapshot: string | null): RowVersion | null {
  if (lsn === null) return null;
  if (snapshot !== null) return { kind: 'snapshot', lsn: parseLsn(lsn), snapshot: cachedSnapshot(snapshot) };
  return { kind: 'change', lsn: parseLsn(lsn), seq: seq ?? 0, xid: BigInt(xid ?? '0') };
}

type StateRecord = {
  source_table: CapturedTable;
  row_id: string;
  lsn: string | null;
  seq: number | null;
  xid: string | null;
  snapshot: string | null;
  deleted: boolean;
  junta_id: string | null;
  worth: string | null;
};

const STATE_COLUMNS = `s.source_table, s.row_id, s.lsn::text, s.seq, s.xid::text, s.snapshot::text, s.deleted, s.junta_id, s.worth::text`;

function stateOf(r: StateRecord): GuardState {
  return {
    table: r.source_table,
    rowId: r.row_id,
    version: versionOf(r.lsn, r.seq, r.xid, r.snapshot),
    deleted: r.deleted,
    juntaId: r.junta_id,
    worth: r.worth === null ? null : cents(r.worth),
  };
}

async function lockExisting(client: Client, keys: readonly RowKey[], out: Map<string, GuardState>): Promise<void> {
  if (keys.length === 0) return;
  const res = await client.query<StateRecord>(
    `SELECT ${STATE_COLUMNS}
       FROM unnest($1::text[], $2::text[]) AS k(t, i)
       JOIN prestamos_cdc.row_state s ON s.source_table = k.t AND s.row_id = k.i
      ORDER BY s.source_table, s.row_id
        FOR UPDATE OF s`,
    [keys.map((k) => k.table), keys.map((k) => k.id)],
  );
  for (const r of res.rows) out.set(stateKey(r.source_table, r.row_id), stateOf(r));
}

function sortedKeys(keys: readonly RowKey[]): RowKey[] {
  return [...new Map(keys.map((k) => [stateKey(k.table, k.id), k])).values()].sort((a, b) =>
    a.table === b.table ? (a.id < b.id ? -1 : a.id > b.id ? 1 : 0) : a.table < b.table ? -1 : 1,
  );
}

async function insertEmptyStates(client: Client, keys: readonly RowKey[], out: Map<string, GuardState>): Promise<void> {
  if (keys.length === 0) return;
  const inserted = await client.query<{ source_table: CapturedTable; row_id: string }>(
    `INSERT INTO prestamos_cdc.row_state (source_table, row_id, worth)
     SELECT t, i, 0 FROM unnest($1::text[], $2::text[]) AS k(t, i)
     ON CONFLICT (source_table, row_id) DO NOTHING
     RETURNING source_table, row_id`,
    [keys.map((k) => k.table), keys.map((k) => k.id)],
  );
  for (const r of inserted.rows) out.set(stateKey(r.source_table, r.row_id), emptyState(r.source_table, r.row_id));
  // created by a concurrent transaction since the first statement: lock them now that they exist
  await lockExisting(client, keys.filter((k) => !out.has(stateKey(k.table, k.id))), out);
}

const emptyState = (table: CapturedTable, rowId: string): GuardState => ({ table, rowId, version: null, deleted: false, juntaId: null, worth: 0n });

/**
 * Locks the version-guard state of every key, in key order so that concurrent consumers rarely
 * deadlock (a deadlock is retried), and returns it. State that does not exist yet is created empty —
 * never applied, nothing held in the ledger (worth 0) — and is locked by being inserted.
 */
export async function lockRowStates(client: Client, keys: RowKey[]): Promise<Map<string, GuardState>> {
  const sorted = sortedKeys(keys);
  const out = new Map<string, GuardState>();
  await lockExisting(client, sorted, out);
  await insertEmptyStates(client, sorted.filter((k) => !out.has(stateKey(k.table, k.id))), out);
  return out;
}

export interface ApplyLocks {
  states: Map<string, GuardState>;
  /** rows of the batch that have no guard state yet: inserted with their new version by writeRowStates */
  unstored: Set<string>;
}

/**
 * The apply's locks: like lockRowStates, except that a row of the batch without guard state is not
 * created now (any version supersedes none, so it wins) but inserted once, with its new version, by
 * writeRowStates — which fails with a serialization error, retried, if another transaction created it
 * meanwhile. One statement when every row exists.
 */
export async function lockRowStatesForApply(client: Client, keys: RowKey[], batchKeys: ReadonlySet<string>): Promise<ApplyLocks> {
  const sorted = sortedKeys(keys);
  const states = new Map<string, GuardState>();
  await lockExisting(client, sorted, states);
  const unstored = new Set<string>();
  const toCreate: RowKey[] = [];
  for (const k of sorted) {
    const key = stateKey(k.table, k.id);
    if (states.has(key)) continue;
    if (batchKeys.has(key)) {
      unstored.add(key);
      states.set(key, emptyState(k.table, k.id));
    } else toCreate.push(k);
  }
  await insertEmptyStates(client, toCreate, states);
  return { states, unstored };
}

/** A guard state created by another transaction after this one found none: the transaction is retried. */
export class ConcurrentStateCreation extends Error {
  readonly code = '40001';
  constructor(count: number) {
    super(`${count} version-guard row(s) created by a concurrent apply; retrying the transaction`);
    this.name = 'ConcurrentStateCreation';
  }
}

function stateColumns(all: readonly GuardState[]) {
  const col = <T>(f: (s: GuardState) => T) => all.map(f);
  return [
    col((s) => s.table),
    col((s) => s.rowId),
    col((s) => (s.version ? formatLsn(s.version.lsn) : null)),
    col((s) => (s.version?.kind === 'change' ? s.version.seq : 0)),
    col((s) => (s.version?.kind === 'change' ? s.version.xid.toString() : null)),
    col((s) => (s.version?.kind === 'snapshot' ? s.version.snapshot.text : null)),
    col((s) => s.deleted),
    col((s) => s.juntaId),
    col((s) => (s.worth === null ? null : formatCents(s.worth))),
  ];
}

/**
 * Writes the guard state of the rows applied (their new version and the worth the ledger now holds for
 * them) and, for `worthOnly`, only the worth held. Rows in `unstored` (see lockRowStatesForApply) are
 * inserted.
 */
export async function writeRowStates(client: Client, states: GuardState[], worthOnly: GuardState[] = [], unstored: ReadonlySet<string> = new Set()): Promise<void> {
  const inserts = unstored.size ? states.filter((s) => unstored.has(stateKey(s.table, s.rowId))) : [];
  const updates = [...(inserts.length ? states.filter((s) => !unstored.has(stateKey(s.table, s.rowId))) : states), ...worthOnly];
  if (inserts.length > 0) {
    const r = await client.query(
      `INSERT INTO prestamos_cdc.row_state (source_table, row_id, lsn, seq, xid, snapshot, deleted, junta_id, worth)
       SELECT * FROM unnest($1::text[], $2::text[], $3::pg_lsn[], $4::int[], $5::xid8[], $6::pg_snapshot[], $7::boolean[], $8::text[], $9::numeric[])
       ON CONFLICT (source_table, row_id) DO NOTHING`,
      stateColumns(inserts),
    );
    if (r.rowCount !== inserts.length) throw new ConcurrentStateCreation(inserts.length - (r.rowCount ?? 0));
  }
  if (updates.length === 0) return;
  const versionedCount = updates.length - worthOnly.length;
  await client.query(
    `UPDATE prestamos_cdc.row_state s
        SET lsn = CASE WHEN v.keep THEN s.lsn ELSE v.lsn END, seq = CASE WHEN v.keep THEN s.seq ELSE v.seq END,
            xid = CASE WHEN v.keep THEN s.xid ELSE v.xid END, snapshot = CASE WHEN v.keep THEN s.snapshot ELSE v.snapshot END,
            deleted = CASE WHEN v.keep THEN s.deleted ELSE v.deleted END,
            junta_id = v.junta_id, worth = v.worth, updated_at = now()
       FROM unnest($1::text[], $2::text[], $3::pg_lsn[], $4::int[], $5::xid8[], $6::pg_snapshot[], $7::boolean[], $8::text[], $9::numeric[], $10::boolean[])
            AS v(source_table, row_id, lsn, seq, xid, snapshot, deleted, junta_id, worth, keep)
      WHERE s.source_table = v.source_table AND s.row_id = v.row_id`,
    [...stateColumns(updates), updates.map((_, i) => i >= versionedCount)],
  );
}

export async function readRolledBackLoans(client: Client, loanIds: string[]): Promise<Set<string>> {
  if (loanIds.length === 0) return new Set();
  const r = await client.query<{ prestamo_id: string }>(
    'SELECT prestamo_id FROM prestamos_cdc.rolled_back_loans WHERE prestamo_id = ANY($1::text[])',
    [loanIds],
  );
  return new Set(r.rows.map((x) => x.prestamo_id));
}

/** prestamo_id of the shadow payments with these ids (where a payment belonged before this batch). */
export async function readPaymentLoanIds(client: Client, paymentIds: string[]): Promise<Map<string, string>> {
  if (paymentIds.length === 0) return new Map();
  const r = await client.query<{ id: string; prestamo_id: string }>(
    'SELECT id, prestamo_id FROM "PagoPrestamoNew" WHERE id = ANY($1::text[])',
    [paymentIds],
  );
  return new Map(r.rows.map((x) => [x.id, x.prestamo_id]));
}

export async function readShadowLoans(client: Client, ids: string[]): Promise<Map<string, ShadowLoan>> {
  if (ids.length === 0) return new Map();
  const r = await client.query(
    `SELECT id, junta_id, member_id, principal::text, monthly_interest_rate::text AS rate, installments, status,
            ${ISO('disbursed_at')} AS disbursed_at, ${ISO('due_at')} AS due_at, notes,
            total_paid::text, principal_paid::text, interest_paid::text, outstanding_principal::text, payments_count,
            ${ISO('last_payment_at')} AS last_payment_at, ${ISO('created_at')} AS created_at, ${ISO('updated_at')} AS updated_at,
            source_lsn::text, source_xid::text
       FROM "PrestamoNew" WHERE id = ANY($1::text[])`,
    [ids],
  );
  const out = new Map<string, ShadowLoan>();
  for (const x of r.rows) {
    out.set(x.id, {
      id: x.id,
      juntaId: x.junta_id,
      memberId: x.member_id,
      principal: cents(x.principal),
      rate4: toScale(parseFixed(x.rate), 4),
      installments: x.installments,
      status: x.status,
      disbursedAt: x.disbursed_at,
      dueAt: x.due_at,
      notes: x.notes,
      totalPaid: cents(x.total_paid),
      principalPaid: cents(x.principal_paid),
      interestPaid: cents(x.interest_paid),
      outstandingPrincipal: cents(x.outstanding_principal),
      paymentsCount: x.payments_count,
      lastPaymentAt: x.last_payment_at,
      createdAt: x.created_at,
      updatedAt: x.updated_at,
      sourceLsn: x.source_lsn,
      sourceXid: x.source_xid,
    });
  }
  return out;
}

/** Every shadow payment of these loans, plus the payments with these ids wherever they belong. */
export async function readShadowPayments(client: Client, loanIds: string[], paymentIds: string[]): Promise<Map<string, ShadowPayment>> {
  if (loanIds.length === 0 && paymentIds.length === 0) return new Map();
  const r = await client.query(
    `SELECT id, prestamo_id, amount::text, principal_amount::text, interest_amount::text, ${ISO('paid_at')} AS paid_at, status,
            ${ISO('created_at')} AS created_at, ${ISO('updated_at')} AS updated_at, source_lsn::text, source_xid::text
       FROM "PagoPrestamoNew" WHERE prestamo_id = ANY($1::text[])
     UNION
     SELECT id, prestamo_id, amount::text, principal_amount::text, interest_amount::text, ${ISO('paid_at')} AS paid_at, status,
            ${ISO('created_at')} AS created_at, ${ISO('updated_at')} AS updated_at, source_lsn::text, source_xid::text
       FROM "PagoPrestamoNew" WHERE id = ANY($2::text[])`,
    [loanIds, paymentIds],
  );
  const out = new Map<string, ShadowPayment>();
  for (const x of r.rows) {
    out.set(x.id, {
      id: x.id,
      prestamoId: x.prestamo_id,
      amount: cents(x.amount),
      principalAmount: x.principal_amount === null ? null : cents(x.principal_amount),
      interestAmount: x.interest_amount === null ? null : cents(x.interest_amount),
      paidAt: x.paid_at,
      status: x.status,
      createdAt: x.created_at,
      updatedAt: x.updated_at,
      sourceLsn: x.source_lsn,
      sourceXid: x.source_xid,
    });
  }
  return out;
}

const money = (v: bigint | null) => (v === null ? null : formatCents(v));
const rate = (v: bigint) => {
  const neg = v < 0n;
  const s = (neg ? -v : v).toString().padStart(5, '0');
  return `${neg ? '-' : ''}${s.slice(0, -4)}.${s.slice(-4)}`;
};

export async function upsertLoans(client: Client, loans: ShadowLoan[]): Promise<void> {
  if (loans.length === 0) return;
  const col = <T>(f: (l: ShadowLoan) => T) => loans.map(f);
  await client.query(
    `INSERT INTO "PrestamoNew" AS t (id, junta_id, member_id, principal, monthly_interest_rate, installments, status,
            disbursed_at, due_at, notes, total_paid, principal_paid, interest_paid, outstanding_principal, payments_count,
            last_payment_at, created_at, updated_at, source_lsn, source_xid, synced_at)
     SELECT v.*, now()
       FROM unnest($1::text[], $2::text[], $3::text[], $4::numeric[], $5::numeric[], $6::int[], $7::text[],
                   $8::timestamptz[], $9::timestamptz[], $10::text[], $11::numeric[], $12::numeric[], $13::numeric[], $14::numeric[],
                   $15::int[], $16::timestamptz[], $17::timestamptz[], $18::timestamptz[], $19::pg_lsn[], $20::xid8[]) AS v
     ON CONFLICT (id) DO UPDATE SET
            junta_id = EXCLUDED.junta_id, member_id = EXCLUDED.member_id, principal = EXCLUDED.principal,
            monthly_interest_rate = EXCLUDED.monthly_interest_rate, installments = EXCLUDED.installments, status = EXCLUDED.status,
            disbursed_at = EXCLUDED.disbursed_at, due_at = EXCLUDED.due_at, notes = EXCLUDED.notes,
            total_paid = EXCLUDED.total_paid, principal_paid = EXCLUDED.principal_paid, interest_paid = EXCLUDED.interest_paid,
            outstanding_principal = EXCLUDED.outstanding_principal, payments_count = EXCLUDED.payments_count,
            last_payment_at = EXCLUDED.last_payment_at, created_at = EXCLUDED.created_at, updated_at = EXCLUDED.updated_at,
            source_lsn = EXCLUDED.source_lsn, source_xid = EXCLUDED.source_xid, synced_at = now()`,
    [
      col((l) => l.id),
      col((l) => l.juntaId),
      col((l) => l.memberId),
      col((l) => formatCents(l.principal)),
      col((l) => rate(l.rate4)),
      col((l) => l.installments),
      col((l) => l.status),
      col((l) => l.disbursedAt),
      col((l) => l.dueAt),
      col((l) => l.notes),
      col((l) => formatCents(l.totalPaid)),
      col((l) => formatCents(l.principalPaid)),
      col((l) => formatCents(l.interestPaid)),
      col((l) => formatCents(l.outstandingPrincipal)),
      col((l) => l.paymentsCount),
      col((l) => l.lastPaymentAt),
      col((l) => l.createdAt),
      col((l) => l.updatedAt),
      col((l) => l.sourceLsn),
      col((l) => l.sourceXid),
    ],
  );
}

export async function upsertPayments(client: Client, payments: ShadowPayment[]): Promise<void> {
  if (payments.length === 0) return;
  const col = <T>(f: (p: ShadowPayment) => T) => payments.map(f);
  await client.query(
    `INSERT INTO "PagoPrestamoNew" AS t (id, prestamo_id, amount, principal_amount, interest_amount, paid_at, status,
            created_at, updated_at, source_lsn, source_xid, synced_at)
     SELECT v.*, now()
       FROM unnest($1::text[], $2::text[], $3::numeric[], $4::numeric[], $5::numeric[], $6::timestamptz[], $7::text[],
                   $8::timestamptz[], $9::timestamptz[], $10::pg_lsn[], $11::xid8[]) AS v
     ON CONFLICT (id) DO UPDATE SET
            prestamo_id = EXCLUDED.prestamo_id, amount = EXCLUDED.amount, principal_amount = EXCLUDED.principal_amount,
            interest_amount = EXCLUDED.interest_amount, paid_at = EXCLUDED.paid_at, status = EXCLUDED.status,
            created_at = EXCLUDED.created_at, updated_at = EXCLUDED.updated_at, source_lsn = EXCLUDED.source_lsn,
            source_xid = EXCLUDED.source_xid, synced_at = now()`,
    [
      col((p) => p.id),
      col((p) => p.prestamoId),
      col((p) => formatCents(p.amount)),
      col((p) => money(p.principalAmount)),
      col((p) => money(p.interestAmount)),
      col((p) => p.paidAt),
      col((p) => p.status),
      col((p) => p.createdAt),
      col((p) => p.updatedAt),
      col((p) => p.sourceLsn),
      col((p) => p.sourceXid),
    ],
  );
}

export async function deleteLoans(client: Client, ids: string[]): Promise<void> {
  if (ids.length) await client.query('DELETE FROM "PrestamoNew" WHERE id = ANY($1::text[])', [ids]);
}

export async function deletePayments(client: Client, ids: string[]): Promise<void> {
  if (ids.length) await client.query('DELETE FROM "PagoPrestamoNew" WHERE id = ANY($1::text[])', [ids]);
}


/** The ledger's signed sum per junta for each row (IN positive, OUT negative). */
export async function readLedgerSums(
  client: Client,
  rows: { loans: string[]; payments: string[]; acciones: string[]; multas: string[] },
): Promise<Map<string, Map<string, bigint>>> {
  const out = new Map<string, Map<string, bigint>>();
  if (!rows.loans.length && !rows.payments.length && !rows.acciones.length && !rows.multas.length) return out;
  const signed = `CASE m.direction WHEN 'IN' THEN m.amount ELSE -m.amount END`;
  const r = await client.query<{ type: MovementType; row_id: string; junta_id: string; worth: string }>(
    `SELECT type, row_id, junta_id, sum(s)::text AS worth FROM (
        SELECT m.type, m.prestamo_id AS row_id, m.junta_id, ${signed} AS s FROM capital_movements m
         WHERE m.prestamo_id = ANY($1::text[]) AND m.type = 'PRESTAMO'
        UNION ALL
        SELECT m.type, m.pago_id, m.junta_id, ${signed} FROM capital_movements m WHERE m.pago_id = ANY($2::text[])
        UNION ALL
        SELECT m.type, m.accion_id, m.junta_id, ${signed} FROM capital_movements m WHERE m.accion_id = ANY($3::text[])
        UNION ALL
        SELECT m.type, m.multa_id, m.junta_id, ${signed} FROM capital_movements m WHERE m.multa_id = ANY($4::text[])
     ) x GROUP BY type, row_id, junta_id`,
    [rows.loans, rows.payments, rows.acciones, rows.multas],
  );
  for (const x of r.rows) {
    const k = ledgerKey(x.type, x.row_id);
    let m = out.get(k);
    if (!m) out.set(k, (m = new Map()));
    m.set(x.junta_id, cents(x.worth));
  }
  return out;
}

export async function appendMovements(client: Client, movements: (Movement & { sourceLsn: string | null })[]): Promise<void> {
  if (movements.length === 0) return;
  const col = <T>(f: (m: Movement & { sourceLsn: string | null }) => T) => movements.map(f);
  await client.query(
    `INSERT INTO capital_movements (junta_id, type, direction, amount, description, prestamo_id, pago_id, accion_id, multa_id, source_lsn)
     SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::numeric[], $5::text[], $6::text[], $7::text[], $8::text[], $9::text[], $10::pg_lsn[])`,
    [
      col((m) => m.juntaId),
      col((m) => m.type),
      col((m) => m.direction),
      col((m) => formatCents(m.amount)),
      col((m) => m.description),
      col((m) => m.prestamoId),
      col((m) => m.pagoId),
      col((m) => m.accionId),
      col((m) => m.multaId),
      col((m) => m.sourceLsn),
    ],
  );
}

export interface OffsetUpdate {
  group: string;
  topic: string;
  partition: number;
  nextOffset: string;
  /** commit time of the newest heartbeat among the messages applied, if any */
  heartbeatAt: string | null;
}

export async function saveOffsets(client: Client, updates: OffsetUpdate[]): Promise<void> {
  if (updates.length === 0) return;
  await client.query(
    `INSERT INTO prestamos_cdc.consumer_offsets (consumer_group, topic, partition, next_offset, heartbeat_at, updated_at)
     SELECT g, t, p, o, h, now() FROM unnest($1::text[], $2::text[], $3::int[], $4::bigint[], $5::timestamptz[]) AS v(g, t, p, o, h)
     ON CONFLICT (consumer_group, topic, partition) DO UPDATE
       SET next_offset = GREATEST(prestamos_cdc.consumer_offsets.next_offset, EXCLUDED.next_offset),
           heartbeat_at = GREATEST(prestamos_cdc.consumer_offsets.heartbeat_at, EXCLUDED.heartbeat_at),
           updated_at = now()`,
    [
      updates.map((u) => u.group),
      updates.map((u) => u.topic),
      updates.map((u) => u.partition),
      updates.map((u) => u.nextOffset),
      updates.map((u) => u.heartbeatAt),
    ],
  );
}

export interface FailedRecordInput {
  sourceTable: string | null;
  rowId: string | null;
  topic: string | null;
  partition: number | null;
  offset: string | null;
  key: string | null;
  payload: Buffer | null;
  error: string;
  errorCode: string;
}

export async function insertFailedRecords(client: Client, records: FailedRecordInput[]): Promise<void> {
  if (records.length === 0) return;
  const col = <T>(f: (r: FailedRecordInput) => T) => records.map(f);
  await client.query(
    `INSERT INTO prestamos_cdc.failed_records (source_table, row_id, topic, partition, kafka_offset, message_key, payload, error, error_code)
     SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::int[], $5::bigint[], $6::text[], $7::bytea[], $8::text[], $9::text[])
     ON CONFLICT (topic, partition, kafka_offset) WHERE kafka_offset IS NOT NULL DO NOTHING`,
    [
      col((r) => r.sourceTable),
      col((r) => r.rowId),
      col((r) => r.topic),
      col((r) => r.partition),
      col((r) => r.offset),
      col((r) => r.key),
      col((r) => r.payload),
      col((r) => r.error.slice(0, 4000)),
      col((r) => r.errorCode),
    ],
  );
}
