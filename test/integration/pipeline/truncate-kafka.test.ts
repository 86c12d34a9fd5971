// TRUNCATE through Apache Kafka with 3 partitions: the truncate travels on partition 0, the payments
// committed just before it on all three. The sync is away while they are published, so when it comes
// back it has all three partitions' backlogs at once and applies them partition by partition — the
// truncate (partition 0) before payments of partitions 1 and 2 that were committed before it. Those
// must change nothing (they no longer exist), and the payments committed after the truncate must stay.
// (test/integration/pipeline/truncate-partitions.test.ts gives the sync such an order by script.)
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import { createTestDatabase, type TestDatabase } from '../../support/database.ts';
import { kafkaAvailable, startTestKafka, type TestKafka } from '../../support/kafka-broker.ts';
import { startTestProcess, startMigrationFor, waitForCatchUp, expectConsistent, configFor, waitForPublished } from '../../support/pipeline.ts';
import { generateLegacyData, insertLegacyData } from '../../../services/testdata/generator.ts';
import type { RunningProcess } from '../../../services/orchestrator/process-runner.ts';

let db: TestDatabase;
let kafka: TestKafka;
let pool: pg.Pool;
const procs: RunningProcess[] = [];
const data = generateLegacyData({ seed: 47, juntas: 2, loansPerJunta: 10, largeNotesShare: 0 });

beforeAll(async () => {
  db = await createTestDatabase('legacy');
  kafka = await startTestKafka();
  pool = new pg.Pool({ connectionString: db.url, max: 4 });
  await insertLegacyData(pool, data);
});
afterAll(async () => {
  for (const p of procs) await p.stop();
  await pool?.end();
  await kafka?.stop();
  await db?.drop();
});

async function insertPayments(prefix: string, n: number): Promise<string[]> {
  const loans = data.prestamos.map((l) => l.id);
  const ids: string[] = [];
  for (let i = 0; i < n; i++) {
    const id = `${prefix}-${i}`;
    // one transaction each, as the application writes them
    await pool.query(`INSERT INTO "PagoPrestamo" (id, "prestamoId", monto, fecha) VALUES ($1, $2, 12.50, now())`, [id, loans[i % loans.length]]);
    ids.push(id);
  }
  return ids;
}

describe.skipIf(!kafkaAvailable())('TRUNCATE through Kafka', () => {
  it('payments committed before it and consumed after it from other partitions change nothing; later ones stay', { timeout: 300_000 }, async () => {
    const config = configFor(db, { KAFKA_BROKERS: kafka.brokers.join(','), KAFKA_TOPIC_PARTITIONS: '3' });
    const capture = await startTestProcess(db, { config, mode: 'kafka', capture: true, sync: false });
    procs.push(capture);
    let sync = await startTestProcess(db, { config, mode: 'kafka', capture: false, sync: true });
    await startMigrationFor(db, config);
    await waitForCatchUp(db);
    await sync.stop();

    await insertPayments('before', 30);
    await pool.query(`TRUNCATE "PagoPrestamo"`);
    const after = await insertPayments('after', 9);
    await waitForPublished(db, config.slotName);

    sync = await startTestProcess(db, { config, mode: 'kafka', capture: false, sync: true });
    procs.push(sync);
    await waitForCatchUp(db, 180_000);
    const payments = await pool.query<{ id: string }>(`SELECT id FROM "PagoPrestamoNew" ORDER BY id`);
    const present = payments.rows.map((r) => r.id);
    expect(present).toEqual([...after].sort());
    const ledger = await pool.query<{ n: string }>(
      `SELECT count(*)::text AS n FROM (SELECT pago_id FROM capital_movements WHERE type = 'PAGO' GROUP BY pago_id
         HAVING sum(CASE WHEN direction = 'IN' THEN amount ELSE -amount END) <> 0) x WHERE pago_id NOT LIKE 'after-%'`,
    );
    expect(ledger.rows[0]!.n).toBe('0');
    await expectConsistent(db);
  });
});
