// Nothing retries for ever in silence: a dead-letter send that keeps failing. The dead-letter topic is
// deleted on a broker that does not create topics by itself (as in production), then a batch carrying
// a message that cannot be decoded arrives: its dead-letter send fails at every attempt. After
// APPLY_MAX_ATTEMPTS attempts the apply pauses with the step and the error as its reason (control row,
// API, metrics, log) and nothing of the batch is applied or committed. The operator's action — create
// the topic again, resume — lets the same batch through: the poison goes to the dead-letter topic and
// the failed records, the rest is applied.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Kafka, logLevel, type Admin } from 'kafkajs';
import pg from 'pg';
import { createTestDatabase, type TestDatabase } from '../../support/database.ts';
import { kafkaAvailable, startTestKafka, type TestKafka } from '../../support/kafka-broker.ts';
import { installRequestQueueFix } from '../../../connectors/kafka/kafkajs-request-queue-fix.ts';
import { startCli, metricValue, type CliProcess } from '../../support/cli-process.ts';
import { waitFor } from '../../support/pipeline.ts';
import { setPaused } from '../../../services/runtime/control-plane.ts';
import { topicFor, deadLetterTopic } from '../../../connectors/kafka/envelope.ts';
import { loanCreated, produceMessages, streamPosition } from '../../support/hand-made-events.ts';

let db: TestDatabase;
let kafka: TestKafka;
let pool: pg.Pool;
let admin: Admin;
let sync: CliProcess | undefined;
const prefix = `stuckdlq${Date.now()}`;
const topic = topicFor(prefix, 'Prestamo');
const dlq = deadLetterTopic(prefix);

beforeAll(async () => {
  installRequestQueueFix();
  db = await createTestDatabase('migrated');
  kafka = await startTestKafka();
  pool = new pg.Pool({ connectionString: db.url, max: 2 });
  admin = new Kafka({ clientId: 'stuck-dlq-test', brokers: kafka.brokers, logLevel: logLevel.NOTHING }).admin();
  await admin.connect();
  sync = await startCli(['sync'], {
    DATABASE_URL: db.url,
    KAFKA_BROKERS: kafka.brokers.join(','),
    TOPIC_PREFIX: prefix,
    SLOT_NAME: `slot_${db.name}`,
    KAFKA_GROUP_ID: `g_${db.name}`,
    KAFKA_REPLICATION_FACTOR: '1',
    KAFKA_TOPIC_PARTITIONS: '3',
    APPLY_MAX_ATTEMPTS: '2',
    LOG_LEVEL: 'info',
  });
});
afterAll(async () => {
  await sync?.stop(5000);
  await admin?.disconnect();
  await pool?.end();
  await kafka?.stop();
  await db?.drop();
});

const base = { lsn: 0x7000000, xid: 8000, day: 2 };
const loanChange = (i: number) => loanCreated(`sdl-${i}`, 'j-sdl', streamPosition(i, base));

async function loans(): Promise<string[]> {
  return (await db.query<{ id: string }>(`SELECT id FROM "PrestamoNew" WHERE id LIKE 'sdl-%' ORDER BY id`)).rows.map((r) => r.id);
}

describe.skipIf(!kafkaAvailable())('a dead-letter send that keeps failing', () => {
  it('pauses the apply after a bounded number of attempts; recreating the topic and resuming lets the batch through', { timeout: 300_000 }, async () => {
    await waitFor('the sync to create its topics', async () => (await admin.listTopics()).includes(dlq), 60_000);
    await admin.deleteTopics({ topics: [dlq], timeout: 30_000 });
    await waitFor('the dead-letter topic to be gone', async () => !(await admin.listTopics()).includes(dlq), 60_000);

    await produceMessages(kafka.brokers, prefix, [
      { event: loanChange(0), partition: 0 },
      { table: 'Prestamo', key: 'poison', value: Buffer.from('not a change event'), partition: 0 },
      { event: loanChange(2), partition: 0 },
    ]);

    const control = await waitFor('the apply to pause', async () => {
      const r = await db.query<{ paused: boolean; reason: string }>(`SELECT paused, reason FROM prestamos_cdc.control`);
      return r.rows[0]?.paused ? r.rows[0] : false;
    }, 240_000);
    expect(control.reason).toMatch(new RegExp(`^apply stuck: dead_letter failed 2 times on ${prefix}\\.public\\.Prestamo\\[0\\] at offset 0: `));
    expect(await metricValue(sync!.url, 'prestamos_cdc_apply_attempts_failed_total', { step: 'dead_letter' })).toBe(2);
    expect(await metricValue(sync!.url, 'prestamos_cdc_paused')).toBe(1);
    // the dead-letter send comes before the batch's transaction: nothing of it is applied or recorded
    expect(await loans()).toEqual([]);
    expect((await db.query(`SELECT 1 FROM prestamos_cdc.consumer_offsets WHERE topic = $1 AND partition = 0`, [topic])).rowCount).toBe(0);

    // the operator's action: the topic back, then resume
    await admin.createTopics({ topics: [{ topic: dlq, numPartitions: 3, replicationFactor: 1 }], waitForLeaders: true });
    await setPaused(pool, false, null, 'test operator');
    await waitFor('the batch to be applied after the resume', async () => (await loans()).length === 2, 120_000);
    expect(await loans()).toEqual(['sdl-0', 'sdl-2']);
    const failed = await db.query<{ kafka_offset: string; error_code: string }>(`SELECT kafka_offset::text, error_code FROM prestamos_cdc.failed_records`);
    expect(failed.rows).toEqual([{ kafka_offset: '1', error_code: 'undecodable' }]);
    expect(await metricValue(sync!.url, 'prestamos_cdc_dead_letter_total')).toBe(1);
  });
});
