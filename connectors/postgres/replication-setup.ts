// Publication and replication slot: created if missing, inspected for the metrics and the API.
// Names come from validated configuration and are still quoted as identifiers.
import pg from 'pg';
import { CAPTURED_TABLES } from '../../services/domain/change-event.ts';
import type { Queryable } from '../../services/runtime/queryable.ts';


export const SIGNAL_TABLE = { schema: 'prestamos_cdc', name: 'signal' } as const;
export const HEARTBEAT_TABLE = { schema: 'prestamos_cdc', name: 'heartbeat' } as const;

export function quoteIdent(name: string): string {
  return '"' + name.replace(/"/g, '""') + '"';
}

const PUBLISHED = [
  ...CAPTURED_TABLES.map((t) => ({ schema: 'public', name: t })),
  SIGNAL_TABLE,
  HEARTBEAT_TABLE,
];

/** Creates the publication, or adds tables a previous version did not publish. */
export async function ensurePublication(db: Queryable, publication: string, lockTimeoutMs: number): Promise<'created' | 'updated' | 'unchanged'> {
  const existing = await db.query<{ schemaname: string; tablename: string }>(
    'SELECT schemaname, tablename FROM pg_publication_tables WHERE pubname = $1',
    [publication],
  );
  const exists = (await db.query('SELECT 1 FROM pg_publication WHERE pubname = $1', [publication])).rowCount! > 0;
  const list = (tables: { schema: string; name: string }[]) => tables.map((t) => `${quoteIdent(t.schema)}.${quoteIdent(t.name)}`).join(', ');
  await db.query(`SET lock_timeout = ${Number(lockTimeoutMs)}`);
  if (!exists) {
    await db.query(`CREATE PUBLICATION ${quoteIdent(publication)} FOR TABLE ${list(PUBLISHED)}`);
    return 'created';
  }
  const have = new Set(existing.rows.map((r) => `${r.schemaname}.${r.tablename}`));
  const missing = PUBLISHED.filter((t) => !have.has(`${t.schema}.${t.name}`));
  if (missing.length === 0) return 'unchanged';
  await db.query(`ALTER PUBLICATION ${quoteIdent(publication)} ADD TABLE ${list(missing)}`);
  return 'updated';
}

export class SlotCreationTimeoutError extends Error {
  readonly blockers: { pid: number; xactStart: string; query: string }[];
  constructor(slot: string, blockers: { pid: number; xactStart: string; query: string }[]) {
    super(
      `creating replication slot "${slot}" waits for running transactions to finish; still waiting on: ` +
        (blockers.map((b) => `pid ${b.pid} (since ${b.xactStart})`).join(', ') || 'unknown'),
    );
    this.name = 'SlotCreationTimeoutError';
    this.blockers = blockers;
  }
}

/**
 * Creates the logical slot if it does not exist. PostgreSQL waits for the transactions running at that
 * moment to end before the slot is usable; a long transaction would make it wait for as long, so the
 * wait is bounded and the blocking sessions are named instead.
 */
export async function ensureSlot(connectionString: string, slot: string, timeoutMs: number): Promise<'created' | 'exists'> {
  const client = new pg.Client({ connectionString, application_name: 'prestamos-cdc slot setup' });
  await client.connect();
  try {
    const found = await client.query<{ plugin: string; database: string; here: string }>(
      'SELECT plugin, database, current_database() AS here FROM pg_replication_slots WHERE slot_name = $1',
      [slot],
    );
    const existing = found.rows[0];
    if (existing) {
      // slot names are unique per server, not per database
      if (existing.database !== existing.here) throw new Error(`replication slot "${slot}" belongs to database "${existing.database}": choose another SLOT_NAME`);
      if (existing.plugin !== 'pgoutput') throw new Error(`replication slot "${slot}" exists with plugin ${existing.plugin}, not pgoutput`);
      return 'exists';
    }
    await client.query(`SET statement_timeout = ${Number(timeoutMs)}`);
    try {
      await client.query(`SELECT pg_create_logical_replication_slot($1, 'pgoutput')`, [slot]);
    } catch (err) {
      if ((err as { code?: string }).code !== '57014') throw err;
      await client.query('SET statement_timeout = 0');
      const blockers = await client.query<{ pid: number; xact_start: string; query: string }>(
        `SELECT pid, xact_start::text, left(query, 200) AS query FROM pg_stat_activity
          WHERE xact_start IS NOT NULL AND pid <> pg_backend_pid() AND backend_xid IS NOT NULL ORDER BY xact_start LIMIT 10`,
      );
      throw new SlotCreationTimeoutError(slot, blockers.rows.map((b) => ({ pid: b.pid, xactStart: b.xact_start, query: b.query })));
    }
    return 'created';
  } finally {
    await client.end().catch(() => undefined);
  }
}

export interface SlotStatus {
  exists: boolean;
  active: boolean;
  activePid: number | null;
  restartLsn: string | null;
  confirmedFlushLsn: string | null;
  /** WAL the slot keeps on the server: current WAL position − restart_lsn */
  retainedWalBytes: number;
  /** WAL not yet confirmed by the capture: current WAL position − confirmed_flush_lsn */
  unconfirmedBytes: number;
  walStatus: string | null;
  currentWalLsn: string;
}

export async function slotStatus(db: Queryable, slot: string): Promise<SlotStatus> {
  const r = await db.query<{
    active: boolean;
    active_pid: number | null;
    restart_lsn: string | null;
    confirmed_flush_lsn: string | null;
    retained: string | null;
    unconfirmed: string | null;
    wal_status: string | null;
    current: string;
  }>(
    `SELECT s.active, s.active_pid, s.restart_lsn::text, s.confirmed_flush_lsn::text,
            pg_wal_lsn_diff(pg_current_wal_lsn(), s.restart_lsn)::text AS retained,
            pg_wal_lsn_diff(pg_current_wal_lsn(), s.confirmed_flush_lsn)::text AS unconfirmed,
            s.wal_status, pg_current_wal_lsn()::text AS current
       FROM (SELECT 1) one LEFT JOIN pg_replication_slots s ON s.slot_name = $1`,
    [slot],
  );
  const row = r.rows[0]!;
  return {
    exists: row.active !== null,
    active: row.active === true,
    activePid: row.active_pid,
    restartLsn: row.restart_lsn,
    confirmedFlushLsn: row.confirmed_flush_lsn,
    retainedWalBytes: row.retained ? Math.max(0, Number(row.retained)) : 0,
    unconfirmedBytes: row.unconfirmed ? Math.max(0, Number(row.unconfirmed)) : 0,
    walStatus: row.wal_status,
    currentWalLsn: row.current,
  };
}

/** A recent 64-bit transaction id (no xid is assigned by asking): the reference for widening xids. */
export async function currentXidHorizon(db: Queryable): Promise<bigint> {
  const r = await db.query<{ xmax: string }>('SELECT pg_snapshot_xmax(pg_current_snapshot())::text AS xmax');
  return BigInt(r.rows[0]!.xmax);
}
