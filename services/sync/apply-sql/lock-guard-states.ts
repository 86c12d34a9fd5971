// Locks the version-guard state (prestamos_cdc.row_state) of the rows a batch touches.
import type { Client } from './client.ts';
import { cents } from '../../domain/decimal.ts';
import { parseLsn } from '../../domain/lsn.ts';
import { parsePgSnapshot, type PgSnapshot } from '../../domain/visibility.ts';
import type { RowVersion } from '../../domain/version-guard.ts';
import type { CapturedTable } from '../../domain/change-event.ts';
import { stateKey, type GuardState, type RowKey } from '../../domain/apply-plan.ts';

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
