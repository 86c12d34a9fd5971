// An offset gap: the broker's retention removes messages the sync has not applied yet. Retention is
// played by the admin API's DeleteRecords, which moves each partition's log start offset forward
// exactly as a retention pass does (the broker then serves nothing before it). The sync notices that the offsets it reads skip
// past the ones it applied, says so (log, metric, its status), and re-syncs the table by snapshot —
// whose markers also remove rows the snapshot no longer sees. The result is exact again.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import { Kafka, logLevel } from 'kafkajs';
import { installRequestQueueFix } from '../../../connectors/kafka/kafkajs-request-queue-fix.ts';
import { createTestDatabase, type TestDatabase } from '../../support/database.ts';
import { kafkaAvailable, startTestKafka, type TestKafka } from '../../support/kafka-broker.ts';
import { startTestProcess, startMigrationFor, waitForCatchUp, expectConsistent, configFor, waitFor, waitForPublished } from '../../support/pipeline.ts';
import { metricValue } from '../../support/cli-process.ts';
import { generateLegacyData, insertLegacyData } from '../../../services/testdata/generator.ts';
import type { RunningProcess } from '../../../services/orchestrator/process-runner.ts';

let db: TestDatabase;
let kafka: TestKafka;
let pool: pg.Pool;
const procs: RunningProcess[] = [];

beforeAll(async () => {
  installRequestQueueFix();
  db = await createTestDatabase('legacy');
  kafka = await startTestKafka();
  pool = new pg.Pool({ connectionString: db.url, max: 4 });
  await insertLegacyData(pool, generateLegacyData({ seed: 12, juntas: 4, loansPerJunta: 50, largeNotesShare: 0 }));
});
afterAll(async () => {
  for (const p of procs) await p.stop();
  await pool?.end();
  await kafka?.stop();
  await db?.drop();
});

describe.skipIf(!kafkaAvailable())('offset gap', () => {
  it('is noticed, reported and repaired by re-syncing the table', async () => {
    const config = configFor(db, { KAFKA_BROKERS: kafka.brokers.join(','), TOPIC_PREFIX: `gap${Date.now()}` });
    const capture = await startTestProcess(db, { config, mode: 'kafka', capture: true, sync: false });
    procs.push(capture);
    let sync = await startTestProcess(db, { config, mode: 'kafka', capture: false, sync: true });
    await startMigrationFor(db, config);
    await waitForCatchUp(db);
    await sync.stop();

    // While the sync is away: loan updates that retention then removes unread, then a few changes the
    // sync must not miss.
    for (let round = 0; round < 2; round++) {
      await pool.query(`UPDATE "Prestamo" SET observaciones = repeat(md5(random()::text || id), 16), "updatedAt" = now()`);
    }
    await waitForPublished(db, config.slotName);
    const topic = `${config.topicPrefix}.public.Prestamo`;
    const admin = new Kafka({ clientId: 'gap-test', brokers: kafka.brokers, logLevel: logLevel.NOTHING }).admin();
    await admin.connect();
    const ends = await admin.fetchTopicOffsets(topic);
    await admin.deleteTopicRecords({ topic, partitions: ends.map((p) => ({ partition: p.partition, offset: p.high })) });
    await admin.disconnect();
    await pool.query(`UPDATE "Prestamo" SET estado = 'CANCELADO', "updatedAt" = now() WHERE id IN (SELECT id FROM "Prestamo" ORDER BY id LIMIT 5)`);
    await pool.query(`DELETE FROM "PagoPrestamo" WHERE "prestamoId" IN (SELECT id FROM "Prestamo" ORDER BY id DESC LIMIT 3)`);
    await pool.query(`DELETE FROM "Prestamo" WHERE id IN (SELECT id FROM "Prestamo" ORDER BY id DESC LIMIT 3)`);
    await waitForPublished(db, config.slotName);

    sync = await startTestProcess(db, { config, mode: 'kafka', capture: false, sync: true });
    procs.push(sync);
    const request = await waitFor('a re-sync request for the gap', async () => {
      const r = await db.query<{ reason: string; tables: string[] }>(`SELECT reason, tables FROM prestamos_cdc.snapshot_requests WHERE reason LIKE 'offset gap%' ORDER BY id LIMIT 1`);
      return r.rows[0];
    }, 120_000);
    expect(request.tables).toEqual(['Prestamo']);
    expect(request.reason).toMatch(/offset gap on gap\d+\.public\.Prestamo\[\d\] offsets \d+\.\.\d+ \(\d+ messages never applied\)/);
    await waitFor('the gap in the metrics', async () => (await metricValue(sync.url, 'prestamos_cdc_offset_gaps_total')) > 0);
    expect(await metricValue(sync.url, 'prestamos_cdc_offset_gap_messages_total')).toBeGreaterThan(0);
    const gaps = await waitFor('the gap in the sync status', async () => {
      const r = await db.query<{ gaps: { topic: string; fromOffset: string; toOffset: string }[] }>(`SELECT status->'gaps' AS gaps FROM prestamos_cdc.components WHERE component = 'sync'`);
      return r.rows[0]?.gaps?.length ? r.rows[0].gaps : false;
    });
    expect(gaps[0]!.topic).toBe(`${config.topicPrefix}.public.Prestamo`);
    expect(BigInt(gaps[0]!.toOffset)).toBeGreaterThanOrEqual(BigInt(gaps[0]!.fromOffset));

    await waitForCatchUp(db, 180_000);
    await expectConsistent(db);
  });
});
