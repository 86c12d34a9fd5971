import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import { createTestDatabase, type TestDatabase } from '../../support/database.ts';
import { kafkaAvailable, startTestKafka, type TestKafka } from '../../support/kafka-broker.ts';
import { startTestProcess, waitForCatchUp, expectConsistent, startMigrationFor, configFor } from '../../support/pipeline.ts';
import { generateLegacyData, insertLegacyData } from '../../../services/testdata/generator.ts';
import { startLegacyWriter } from '../../../services/testdata/legacy-writer.ts';
import type { RunningProcess } from '../../../services/orchestrator/process-runner.ts';

let db: TestDatabase;
let kafka: TestKafka;
let pool: pg.Pool;
const procs: RunningProcess[] = [];

beforeAll(async () => {
  db = await createTestDatabase('legacy');
  kafka = await startTestKafka();
  pool = new pg.Pool({ connectionString: db.url, max: 8 });
  await insertLegacyData(pool, generateLegacyData({ seed: 2, juntas: 10, loansPerJunta: 30 }));
});
afterAll(async () => {
  for (const p of procs) await p.stop();
  await pool?.end();
  await kafka?.stop();
  await db?.drop();
});

describe.skipIf(!kafkaAvailable())('kafka pipeline (smoke)', () => {
  it('capture and sync in separate processes through the broker', async () => {
    const prefix = `t${Date.now()}`;
    const config = configFor(db, { KAFKA_BROKERS: kafka.brokers.join(','), TOPIC_PREFIX: prefix });
    procs.push(await startTestProcess(db, { config, mode: 'kafka', capture: true, sync: false }));
    procs.push(await startTestProcess(db, { config, mode: 'kafka', capture: false, sync: true }));
    await startMigrationFor(db, config);
    const writer = startLegacyWriter({ pool, seed: 6, workers: 3, maxOperations: 600 });
    await writer.done;
    expect(writer.stats.errors).toEqual([]);
    await waitForCatchUp(db, 120_000);
    const report = await expectConsistent(db);
    expect(report.counts.loans).toBeGreaterThan(250);
  });
});
