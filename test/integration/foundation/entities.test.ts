// The MikroORM entities map the tables the SQL migrations create, column for column, and work
// through the shared pool.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../../support/database.ts';
import { openDatabase, type Database } from '../../../connectors/postgres/database.ts';
import { ALL_ENTITIES, AuditEntry, PrestamoNew } from '../../../services/runtime/entities.ts';
import { silentLogger } from '../../../services/runtime/logger.ts';

let db: TestDatabase;
let database: Database;
beforeAll(async () => {
  db = await createTestDatabase('migrated');
  database = await openDatabase({ url: db.url, poolMax: 4, applicationName: 'test', logger: silentLogger() });
});
afterAll(async () => {
  await database?.close();
  await db?.drop();
});

describe('entities', () => {
  it('map every column of every table they name, and no other', async () => {
    for (const entity of ALL_ENTITIES as unknown as (typeof AuditEntry)[]) {
      const meta = database.orm.getMetadata().get(entity);
      const schema = meta.schema ?? 'public';
      const table = meta.tableName;
      const cols = await db.query<{ column_name: string }>(
        'SELECT column_name FROM information_schema.columns WHERE table_schema = $1 AND table_name = $2',
        [schema, table],
      );
      const mapped = Object.values(meta.properties).flatMap((prop) => prop.fieldNames);
      expect(cols.rows.map((r) => r.column_name).sort(), meta.tableName).toEqual([...mapped].sort());
    }
  });

  it('read and write through the ORM with exact decimals', async () => {
    await db.query(`INSERT INTO "PrestamoNew" (id, junta_id, member_id, principal, monthly_interest_rate, installments, status, total_paid, created_at, updated_at, source_lsn)
                    VALUES ('p1', 'j1', 'm1', 1234567890.12, 0.0250, 12, 'disbursed', 0.10, now(), now(), '0/16B3748')`);
    const em = database.em();
    const loan = await em.findOneOrFail(PrestamoNew, { id: 'p1' });
    expect(loan.principal).toBe('1234567890.12');
    expect(loan.monthlyInterestRate).toBe('0.0250');
    expect(loan.totalPaid).toBe('0.10');
    expect(loan.sourceLsn).toBe('0/16B3748');
    em.create(AuditEntry, { actor: 'a', role: 'admin', action: 'test', params: { x: 1 }, outcome: 'ok', status: 200, requestId: 'r' } as never);
    await em.flush();
    const rows = await db.query<{ action: string; params: unknown }>('SELECT action, params FROM prestamos_cdc.audit_log');
    expect(rows.rows).toEqual([{ action: 'test', params: { x: 1 } }]);
  });
});
