// Rebalances are not gaps. One sync runs; a second joins the consumer group, takes some of the
// partitions, applies from them, and leaves — twice — while the application writes. Each partition that
// moves away and back carries offsets the first sync did not apply itself: another member of the group
// did (prestamos_cdc.consumer_offsets says so). Nothing was lost in Kafka, so no process may report an
// offset gap or request a table re-sync, and the result is exact.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import { createTestDatabase, type TestDatabase } from '../../support/database.ts';
import { kafkaAvailable, startTestKafka, type TestKafka } from '../../support/kafka-broker.ts';
import { startTestProcess, startMigrationFor, waitForCatchUp, expectConsistent, configFor, waitFor } from '../../support/pipeline.ts';
import { metricValue } from '../../support/cli-process.ts';
import { generateLegacyData, insertLegacyData } from '../../../services/testdata/generator.ts';
import { startLegacyWriter, type WriterOp } from '../../../services/testdata/legacy-writer.ts';
import type { RunningProcess } from '../../../services/orchestrator/process-runner.ts';

const OPS: WriterOp[] = ['insertLoan', 'disburseLoan', 'changeStatus', 'changeTerms', 'insertPayment', 'voidPayment', 'deletePayment', 'moveLoanToOtherJunta', 'insertAccion', 'insertMulta', 'payMulta'];

let db: TestDatabase;
let kafka: TestKafka;
let pool: pg.Pool;
const procs: RunningProcess[] = [];

beforeAll(async () => {
  db = await createTestDatabase('legacy');
  kafka = await startTestKafka();
  pool = new pg.Pool({ connectionString: db.url, max: 6 });
  await insertLegacyData(pool, generateLegacyData({ seed: 41, juntas: 4, loansPerJunta: 30, largeNotesShare: 0 }));
});
afterAll(async () => {
  for (const p of procs.reverse()) await p.stop().catch(() => undefined);
  await pool?.end();
  await kafka?.stop();
  await db?.drop();
});

async function appliedBy(p: RunningProcess): Promise<number> {
  return metricValue(p.url, 'prestamos_cdc_events_applied_total');
}

describe.skipIf(!kafkaAvailable())('consumer group rebalance', () => {
  it('a partition that moves to another sync and back is not an offset gap', { timeout: 300_000 }, async () => {
    const config = configFor(db, { KAFKA_BROKERS: kafka.brokers.join(','), TOPIC_PREFIX: `rb${Date.now()}`, KAFKA_SESSION_TIMEOUT_MS: '10000' });
    const capture = await startTestProcess(db, { config, mode: 'kafka', capture: true, sync: false, api: false });
    procs.push(capture);
    const first = await startTestProcess(db, { config, mode: 'kafka', capture: false, sync: true, api: false });
    procs.push(first);
    await startMigrationFor(db, config);
    await waitForCatchUp(db);

    const writer = startLegacyWriter({ pool, seed: 42, workers: 2, ratePerSecond: 80, ops: OPS });
    let joinerApplied = 0;
    try {
      for (let round = 0; round < 2; round++) {
        const joiner = await startTestProcess(db, { config, mode: 'kafka', capture: false, sync: true, api: false });
        procs.push(joiner);
        // it has taken partitions over and applied from them
        joinerApplied += await waitFor('the joining sync to apply from its partitions', async () => {
          const n = await appliedBy(joiner);
          return n > 20 ? n : false;
        }, 90_000);
        await joiner.stop();
        // the partitions come back to the first sync, which applies from them again
        const before = await appliedBy(first);
        await waitFor('the first sync to apply again', async () => (await appliedBy(first)) > before + 20, 90_000);
      }
    } finally {
      await writer.stop();
    }
    expect(writer.stats.errors).toEqual([]);
    expect(joinerApplied).toBeGreaterThan(0);
    await waitForCatchUp(db, 180_000);
    await expectConsistent(db);

    expect(await metricValue(first.url, 'prestamos_cdc_offset_gaps_total')).toBe(0);
    const resyncs = await db.query<{ reason: string }>(`SELECT reason FROM prestamos_cdc.snapshot_requests WHERE reason LIKE 'offset gap%'`);
    expect(resyncs.rows).toEqual([]);
  });
});
