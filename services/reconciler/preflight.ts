// The pre-migration checklist of the operators' guide, as checks (`prestamos-cdc preflight`): the server
// can do logical replication (wal_level, a free slot and WAL sender, the REPLICATION privilege), how
// much WAL a stuck slot may keep (max_slot_wal_keep_size), a primary key on every captured table,
// long transactions that would hold up slot creation, row counts, and the backup command to run first.
// A "fail" finding blocks the migration (the command exits 1); a "warn" needs a decision; "info" is
// for the record. Read-only.
import type { Queryable } from '../runtime/queryable.ts';


export type FindingStatus = 'ok' | 'info' | 'warn' | 'fail';

export interface Finding {
  check: string;
  status: FindingStatus;
  detail: string;
}

export interface PreflightReport {
  blocking: boolean;
  findings: Finding[];
  counts: Record<string, number | null>;
  backupCommand: string;
}

export interface PreflightOptions {
  slotName: string;
  publicationName: string;
  /** transactions open longer than this are reported */
  longTransactionSeconds?: number;
  /** connections the pipeline will open (PG_POOL_MAX of each process, plus the replication connection) */
  connectionsNeeded?: number;
  now?: Date;
}

export const CAPTURED = ['Prestamo', 'PagoPrestamo', 'Accion', 'Multa'] as const;
const LEGACY = ['Junta', ...CAPTURED] as const;

function stamp(d: Date): string {
  const p = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}${p(d.getMonth() + 1)}${p(d.getDate())}_${p(d.getHours())}${p(d.getMinutes())}${p(d.getSeconds())}`;
}

/** The guide's backup step, with its timestamp; the URL stays in the environment (never printed). */
export function backupCommand(now: Date): string {
  return `pg_dump "$DATABASE_URL" > backup_before_migration_${stamp(now)}.sql`;
}

async function setting(db: Queryable, name: string): Promise<string | null> {
  const r = await db.query<{ v: string | null }>('SELECT current_setting($1, true) AS v', [name]);
  return r.rows[0]?.v ?? null;
}

export async function runPreflight(db: Queryable, options: PreflightOptions): Promise<PreflightReport> {
  const findings: Finding[] = [];
  const add = (check: string, status: FindingStatus, detail: string) => findings.push({ check, status, detail });
  const now = options.now ?? new Date();

  const version = Number(await setting(db, 'server_version_num'));
  add('server version', version >= 140000 ? 'ok' : 'fail', version >= 140000 ? `PostgreSQL ${await setting(db, 'server_version')}` : `PostgreSQL ${await setting(db, 'server_version')}: 14 or later is required`);

  const walLevel = await setting(db, 'wal_level');
  add('wal_level', walLevel === 'logical' ? 'ok' : 'fail', walLevel === 'logical' ? 'logical' : `${walLevel}: set wal_level = logical and restart the server (logical replication needs it)`);

  const role = await db.query<{ rolname: string; ok: boolean }>(`SELECT rolname, rolreplication OR rolsuper AS ok FROM pg_roles WHERE rolname = current_user`);
  const r0 = role.rows[0];
  add('replication privilege', r0?.ok ? 'ok' : 'fail', r0?.ok ? `role ${r0.rolname} may create and stream a replication slot` : `role ${r0?.rolname ?? '?'} lacks REPLICATION: ALTER ROLE ${r0?.rolname ?? '<role>'} REPLICATION`);

  const slots = await db.query<{ max: string; used: string; ours: string | null; ours_db: string | null }>(
    `SELECT current_setting('max_replication_slots') AS max, (SELECT count(*) FROM pg_replication_slots)::text AS used,
            (SELECT slot_name FROM pg_replication_slots WHERE slot_name = $1) AS ours,
            (SELECT database FROM pg_replication_slots WHERE slot_name = $1) AS ours_db`,
    [options.slotName],
  );
  const s = slots.rows[0]!;
  const freeSlots = Number(s.max) - Number(s.used);
  if (s.ours) {
    const here = (await db.query<{ d: string }>('SELECT current_database() AS d')).rows[0]!.d;
    add('replication slots', s.ours_db === here ? 'ok' : 'fail', s.ours_db === here ? `slot "${options.slotName}" exists already (${s.used} of ${s.max} in use)` : `slot "${options.slotName}" belongs to database "${s.ours_db}": choose another SLOT_NAME`);
  } else {
    add('replication slots', freeSlots >= 1 ? 'ok' : 'fail', `${s.used} of max_replication_slots = ${s.max} in use${freeSlots >= 1 ? '' : ': none free — raise max_replication_slots (restart) or drop an unused slot'}`);
  }

  const senders = await db.query<{ max: string; used: string }>(
    `SELECT current_setting('max_wal_senders') AS max, (SELECT count(*) FROM pg_stat_replication)::text AS used`,
  );
  const w = senders.rows[0]!;
  const freeSenders = Number(w.max) - Number(w.used);
  add('WAL senders', freeSenders >= 1 ? 'ok' : 'fail', `${w.used} of max_wal_senders = ${w.max} in use${freeSenders >= 1 ? '' : ': none free — raise max_wal_senders (restart)'}`);

  const keep = await setting(db, 'max_slot_wal_keep_size');
  if (keep === '-1' || keep === null) {
    add('max_slot_wal_keep_size', 'warn', 'unlimited (-1): a stopped or stuck capture makes the slot keep WAL until the disk is full; set a limit you can afford (for example 20GB) and alert on prestamos_cdc_replication_slot_retained_wal_bytes');
  } else {
    add('max_slot_wal_keep_size', 'ok', `${keep}: a capture stopped long enough to exceed it loses its slot (wal_status lost) and needs a full re-sync`);
  }

  const tables = await db.query<{ name: string; exists: boolean; pk: boolean; replident: string | null }>(
    `SELECT t.name, c.oid IS NOT NULL AS exists,
            EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conrelid = c.oid AND k.contype = 'p') AS pk,
            c.relreplident::text AS replident
       FROM unnest($1::text[]) AS t(name)
       LEFT JOIN pg_class c ON c.oid = to_regclass(quote_ident(t.name))`,
    [[...LEGACY]],
  );
  for (const t of tables.rows) {
    const captured = (CAPTURED as readonly string[]).includes(t.name);
    if (!t.exists) add(`table "${t.name}"`, 'fail', 'missing: the legacy schema is not in this database (or not on the search_path)');
    else if (!t.pk) add(`table "${t.name}"`, 'fail', 'has no primary key: change events need one as their key, and the apply as its identity');
    else if (captured && t.replident === 'n') add(`table "${t.name}"`, 'fail', 'REPLICA IDENTITY NOTHING: deletes would carry no key; ALTER TABLE … REPLICA IDENTITY DEFAULT');
    else add(`table "${t.name}"`, 'ok', captured ? 'primary key; replica identity ' + ({ d: 'default (the primary key)', f: 'full', i: 'index' } as Record<string, string>)[t.replident ?? 'd'] : 'primary key');
  }

  const longTx = await db.query<{ pid: number; state: string; seconds: string; query: string; usename: string | null }>(
    `SELECT pid, coalesce(state, '') AS state, round(extract(epoch FROM now() - xact_start))::text AS seconds, left(query, 200) AS query, usename
       FROM pg_stat_activity
      WHERE xact_start IS NOT NULL AND pid <> pg_backend_pid() AND state <> 'idle'
        AND xact_start < now() - make_interval(secs => $1)
      ORDER BY xact_start LIMIT 20`,
    [options.longTransactionSeconds ?? 60],
  );
  if (longTx.rows.length === 0) {
    add('long transactions', 'ok', `none open longer than ${options.longTransactionSeconds ?? 60} s`);
  } else {
    for (const t of longTx.rows) {
      add('long transactions', 'warn', `pid ${t.pid} (${t.usename ?? '?'}, ${t.state}) in a transaction for ${t.seconds} s: ${t.query.replace(/\s+/g, ' ')} — creating the slot waits for it to end`);
    }
  }

  const conns = await db.query<{ max: string; used: string; reserved: string }>(
    `SELECT current_setting('max_connections') AS max, (SELECT count(*) FROM pg_stat_activity)::text AS used,
            current_setting('superuser_reserved_connections') AS reserved`,
  );
  const cx = conns.rows[0]!;
  const freeConns = Number(cx.max) - Number(cx.reserved) - Number(cx.used);
  const needed = options.connectionsNeeded ?? 12;
  add('connections', freeConns >= needed ? 'ok' : 'warn', `${cx.used} of max_connections = ${cx.max} in use, ${freeConns} free; the pipeline needs about ${needed}`);

  const counts: Record<string, number | null> = {};
  for (const t of tables.rows) {
    if (!t.exists) {
      counts[t.name] = null;
      continue;
    }
    const r = await db.query<{ n: string }>(`SELECT count(*)::text AS n FROM ${'"' + t.name.replace(/"/g, '""') + '"'}`);
    counts[t.name] = Number(r.rows[0]!.n);
  }
  add('row counts', 'info', Object.entries(counts).map(([k, v]) => `${k} ${v ?? '-'}`).join(', '));

  const state = await db.query<{ migrated: boolean; pub: boolean }>(
    `SELECT to_regclass('"PrestamoNew"') IS NOT NULL AS migrated, EXISTS (SELECT 1 FROM pg_publication WHERE pubname = $1) AS pub`,
    [options.publicationName],
  );
  const st = state.rows[0]!;
  add('migration objects', 'info', st.migrated ? 'present (prestamos-cdc migrate has run)' : 'not yet created (POST /prestamos/migration/start or prestamos-cdc migrate creates them)');
  add('publication', 'info', st.pub ? `"${options.publicationName}" exists` : `"${options.publicationName}" will be created by start`);

  const cmd = backupCommand(now);
  add('backup', 'info', `run before starting, and check that it restores: ${cmd}`);
  return { blocking: findings.some((f) => f.status === 'fail'), findings, counts, backupCommand: cmd };
}
