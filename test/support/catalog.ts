// Read-only views of a database used by the tests: a snapshot of the schema objects, and a checksum of
// every legacy row.
import type { TestDatabase } from './database.ts';

export const LEGACY_TABLES = ['Junta', 'Prestamo', 'PagoPrestamo', 'Accion', 'Multa'] as const;

/** Every schema object that a migration could create or change, as sorted text lines. */
export async function schemaSnapshot(db: TestDatabase): Promise<string[]> {
  const q = async (sql: string) => (await db.query<{ line: string }>(sql)).rows.map((r) => r.line);
  return [
    ...(await q(`SELECT 'schema ' || nspname AS line FROM pg_namespace WHERE nspname NOT LIKE 'pg\\_%' AND nspname <> 'information_schema'`)),
    ...(await q(`SELECT 'column ' || table_schema || '.' || table_name || '.' || column_name || ' ' || data_type || ' ' || is_nullable || ' ' || coalesce(column_default, '') AS line
                   FROM information_schema.columns WHERE table_schema NOT IN ('pg_catalog', 'information_schema')`)),
    ...(await q(`SELECT 'function ' || n.nspname || '.' || p.proname || '(' || pg_get_function_identity_arguments(p.oid) || ') ' || md5(p.prosrc) AS line
                   FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname NOT IN ('pg_catalog', 'information_schema')`)),
    ...(await q(`SELECT 'trigger ' || tgrelid::regclass::text || '.' || tgname AS line FROM pg_trigger WHERE NOT tgisinternal`)),
    ...(await q(`SELECT 'index ' || schemaname || '.' || indexname || ' ' || md5(indexdef) AS line FROM pg_indexes WHERE schemaname NOT IN ('pg_catalog', 'information_schema')`)),
    ...(await q(`SELECT 'constraint ' || conrelid::regclass::text || '.' || conname || ' ' || md5(pg_get_constraintdef(oid)) AS line FROM pg_constraint WHERE connamespace NOT IN (SELECT oid FROM pg_namespace WHERE nspname IN ('pg_catalog', 'information_schema'))`)),
    ...(await q(`SELECT 'view ' || schemaname || '.' || viewname || ' ' || md5(definition) AS line FROM pg_views WHERE schemaname NOT IN ('pg_catalog', 'information_schema')`)),
    ...(await q(`SELECT 'publication ' || pubname AS line FROM pg_publication`)),
    ...(await q(`SELECT 'slot ' || slot_name AS line FROM pg_replication_slots WHERE database = current_database()`)),
  ].sort();
}

/** md5 over every row of every legacy table, in id order, as the rows print. */
export async function legacyChecksum(db: TestDatabase): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const t of LEGACY_TABLES) {
    const r = await db.query<{ sum: string | null; n: string }>(
      `SELECT md5(string_agg(x::text, '|' ORDER BY x.id)) AS sum, count(*)::text AS n FROM "${t}" x`,
    );
    out[t] = `${r.rows[0]!.n}:${r.rows[0]!.sum ?? ''}`;
  }
  return out;
}
