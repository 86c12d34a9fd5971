// sql/rollback_capital_tracking.sql after a migration and activity: every object this project created
// is gone, and every legacy row is exactly what it was before the migration.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import { createTestDatabase, type TestDatabase } from '../../support/database.ts';
import { legacyChecksum, schemaSnapshot } from '../../support/catalog.ts';
import { migrate, runSqlFile, ROLLBACK_FILE } from '../../../connectors/postgres/migrator.ts';
import { generateLegacyData, insertLegacyData } from '../../../services/testdata/generator.ts';
import { silentLogger } from '../../../services/runtime/logger.ts';

let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase('legacy');
  await insertLegacyData({ query: (s: string, p?: unknown[]) => db.query(s, p) } as unknown as pg.Pool,
    generateLegacyData({ seed: 3, juntas: 5, loansPerJunta: 20 }));
});
afterAll(async () => {
  await db?.drop();
});

describe('rollback_capital_tracking.sql', () => {
  it('removes every new object and leaves every legacy row as it was before the migration', async () => {
    const schemaBefore = await schemaSnapshot(db);
    const rowsBefore = await legacyChecksum(db);

    await migrate(db.url, { logger: silentLogger(), lockTimeoutMs: 1000 });
    // Activity of the project: ledger movements (the trigger moves Junta's capital columns), shadow
    // rows, a publication and a replication slot recorded by the pipeline, an audit row.
    await db.query(`INSERT INTO capital_movements (junta_id, type, direction, amount, description, accion_id)
                    SELECT "juntaId", 'ACCION', 'IN', cantidad * "valorUnitario", 'share', id FROM "Accion"`);
    await db.query(`SELECT set_junta_base_capital(id, 100) FROM "Junta"`);
    await db.query(`INSERT INTO "PrestamoNew" (id, junta_id, member_id, principal, monthly_interest_rate, installments, status, created_at, updated_at, source_lsn)
                    SELECT id, "juntaId", "miembroId", monto, "tasaInteres", cuotas, 'pending', now(), now(), pg_current_wal_lsn() FROM "Prestamo"`);
    await db.query(`INSERT INTO prestamos_cdc.pipeline (name, slot_name, publication, topic_prefix) VALUES ('main', 'rb_slot', 'rb_pub', 'junta')`);
    await db.query(`CREATE PUBLICATION rb_pub FOR TABLE "Prestamo", "PagoPrestamo", "Accion", "Multa", prestamos_cdc.signal, prestamos_cdc.heartbeat`);
    await db.query(`SELECT pg_create_logical_replication_slot('rb_slot', 'pgoutput')`);
    await db.query(`INSERT INTO prestamos_cdc.audit_log (actor, role, action, outcome, request_id) VALUES ('t', 'admin', 'test', 'ok', 'r1')`);
    const junta = await db.query<{ a: string }>(`SELECT min(available_capital)::text AS a FROM "Junta"`);
    expect(junta.rows[0]!.a).not.toBe('0.00'); // the migration really changed Junta's new columns
    expect(await schemaSnapshot(db)).not.toEqual(schemaBefore);

    await runSqlFile(db.url, ROLLBACK_FILE);

    expect(await schemaSnapshot(db)).toEqual(schemaBefore);
    expect(await legacyChecksum(db)).toEqual(rowsBefore);
    const left = await db.query(`SELECT 1 FROM pg_replication_slots WHERE slot_name = 'rb_slot'`);
    expect(left.rowCount).toBe(0);
  });
});
