// `prestamos-cdc migrate` on a legacy database that already holds data while an application keeps
// writing: no writer error beyond retried lock timeouts, a second run changes nothing, a changed
// applied file stops the run, and a DDL that cannot get its lock gives up within lock_timeout instead
// of queueing the application behind it.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createTestDatabase, type TestDatabase } from '../../support/database.ts';
import { schemaSnapshot } from '../../support/catalog.ts';
import { migrate, MigrationChangedError, MIGRATION_FILES, SQL_DIR } from '../../../connectors/postgres/migrator.ts';
import { generateLegacyData, insertLegacyData } from '../../../services/testdata/generator.ts';
import { startLegacyWriter } from '../../../services/testdata/legacy-writer.ts';
import { silentLogger } from '../../../services/runtime/logger.ts';

let db: TestDatabase;
let pool: pg.Pool;
const logger = silentLogger();

beforeAll(async () => {
  db = await createTestDatabase('legacy');
  pool = new pg.Pool({ connectionString: db.url, max: 12 });
  await insertLegacyData(pool, generateLegacyData({ seed: 7, juntas: 20, loansPerJunta: 50 }));
});
afterAll(async () => {
  await pool?.end();
  await db?.drop();
});

describe('migrate', () => {
  it('applies to a live database while writers insert and update, without failing them', async () => {
    // Writers that only use columns every version of the schema has.
    const writer = startLegacyWriter({
      pool,
      seed: 11,
      workers: 6,
      ops: ['insertLoan', 'disburseLoan', 'changeStatus', 'insertPayment', 'voidPayment', 'insertAccion', 'updateAccion', 'insertMulta', 'payMulta', 'touchNotes'],
    });
    await new Promise((r) => setTimeout(r, 500));
    const before = writer.stats.operations;
    const outcomes = await migrate(db.url, { logger, lockTimeoutMs: 200 });
    await new Promise((r) => setTimeout(r, 500));
    await writer.stop();

    expect(outcomes.map((o) => [o.file, o.status])).toEqual(MIGRATION_FILES.map((f) => [f, 'applied']));
    expect(writer.stats.errors).toEqual([]);
    expect(writer.stats.operations).toBeGreaterThan(before + 20); // they kept writing during the run

    const cols = await db.query<{ table_name: string; column_name: string; column_default: string }>(
      `SELECT table_name, column_name, column_default FROM information_schema.columns
        WHERE (table_name = 'Junta' AND column_name IN ('current_capital', 'base_capital', 'available_capital'))
           OR (table_name IN ('Accion', 'Multa') AND column_name = 'affects_capital') ORDER BY 1, 2`,
    );
    expect(cols.rows.map((r) => `${r.table_name}.${r.column_name}=${r.column_default}`)).toEqual([
      'Accion.affects_capital=true',
      'Junta.available_capital=0',
      'Junta.base_capital=0',
      'Junta.current_capital=0',
      'Multa.affects_capital=true',
    ]);
    // Existing rows got the defaults without a rewrite.
    const nulls = await db.query<{ n: string }>(`SELECT count(*)::text AS n FROM "Accion" WHERE affects_capital IS NOT TRUE`);
    expect(nulls.rows[0]!.n).toBe('0');
    const recorded = await db.query<{ name: string }>('SELECT name FROM prestamos_cdc.schema_migrations ORDER BY applied_at, name');
    expect(recorded.rows.map((r) => r.name).sort()).toEqual([...MIGRATION_FILES].sort());
  });

  it('changes nothing when applied twice, and re-running a file by hand changes nothing either', async () => {
    const snapshot = await schemaSnapshot(db);
    const outcomes = await migrate(db.url, { logger, lockTimeoutMs: 200 });
    expect(outcomes.every((o) => o.status === 'unchanged')).toBe(true);
    // The files themselves are idempotent (psql -f twice): run them again, bypassing the record.
    const client = new pg.Client({ connectionString: db.url });
    await client.connect();
    for (const f of MIGRATION_FILES) await client.query(await readFile(path.join(SQL_DIR, f), 'utf8'));
    await client.end();
    expect(await schemaSnapshot(db)).toEqual(snapshot);
  });

  it('refuses to continue when an applied file has changed', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'sql-'));
    try {
      await cp(SQL_DIR, dir, { recursive: true });
      const file = path.join(dir, 'prestamos_cdc_state.sql');
      await writeFile(file, (await readFile(file, 'utf8')) + '\n-- edited after it was applied\n');
      const snapshot = await schemaSnapshot(db);
      await expect(migrate(db.url, { logger, lockTimeoutMs: 200, sqlDir: dir })).rejects.toThrow(MigrationChangedError);
      await expect(migrate(db.url, { logger, lockTimeoutMs: 200, sqlDir: dir })).rejects.toThrow(/prestamos_cdc_state\.sql/);
      expect(await schemaSnapshot(db)).toEqual(snapshot);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('gives up a lock it cannot get within lock_timeout, so application queries never queue long behind it, then retries', async () => {
    const fresh = await createTestDatabase('legacy');
    const holder = new pg.Client({ connectionString: fresh.url });
    const app = new pg.Client({ connectionString: fresh.url });
    await holder.connect();
    await app.connect();
    try {
      // A long application transaction holds a lock that conflicts with ALTER TABLE.
      await holder.query('BEGIN');
      await holder.query('SELECT count(*) FROM "Junta"');
      const migration = migrate(fresh.url, { logger, lockTimeoutMs: 300, maxAttempts: 100 });
      // While the migration keeps trying, application reads of "Junta" wait at most about one lock_timeout.
      const waits: number[] = [];
      for (let i = 0; i < 6; i++) {
        await new Promise((r) => setTimeout(r, 150));
        const t = Date.now();
        await app.query('SELECT count(*) FROM "Junta"');
        waits.push(Date.now() - t);
      }
      const col = await app.query(`SELECT 1 FROM information_schema.columns WHERE table_name = 'Junta' AND column_name = 'available_capital'`);
      expect(col.rowCount).toBe(0); // still blocked by the application's transaction
      await holder.query('COMMIT');
      const outcomes = await migration;
      expect(outcomes[0]!.attempts).toBeGreaterThan(1);
      expect(Math.max(...waits)).toBeLessThan(1500);
    } finally {
      await holder.end();
      await app.end();
      await fresh.drop();
    }
  });
});
