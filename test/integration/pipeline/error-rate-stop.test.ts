// The error-rate pause stops the batch in progress at the message that crossed the threshold: one
// fetched batch of ten loan changes on one partition, the seventh of which cannot be applied. With the
// threshold at 5 % over at least 5 messages, the seventh crosses it (1 of 7). The six before it are
// applied, the three after it are not, and the offsets recorded (database and Kafka) are exactly those
// applied; after a resume the apply continues at the next message and nothing is applied twice.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import { Kafka, logLevel } from 'kafkajs';
import { createTestDatabase, type TestDatabase } from '../../support/database.ts';
import { kafkaAvailable, startTestKafka, type TestKafka } from '../../support/kafka-broker.ts';
import { installRequestQueueFix } from '../../../connectors/kafka/kafkajs-request-queue-fix.ts';

import { startTestProcess, configFor, waitFor } from '../../support/pipeline.ts';
import { metricValue } from '../../support/cli-process.ts';
import { setPaused } from '../../../services/runtime/control-plane.ts';
import { topicFor } from '../../../connectors/kafka/envelope.ts';
import { loanCreated, produceMessages, streamPosition } from '../../support/hand-made-events.ts';
import type { RunningProcess } from '../../../services/orchestrator/process-runner.ts';

let db: TestDatabase;
let kafka: TestKafka;
let pool: pg.Pool;
let proc: RunningProcess | undefined;
const prefix = `erstop${Date.now()}`;
const topic = topicFor(prefix, 'Prestamo');
let GROUP = '';

beforeAll(async () => {
  installRequestQueueFix();
  db = await createTestDatabase('migrated');
  GROUP = `g_${db.name}`;
  kafka = await startTestKafka();
  pool = new pg.Pool({ connectionString: db.url, max: 4 });
  const config = configFor(db, {
    KAFKA_BROKERS: kafka.brokers.join(','),
    TOPIC_PREFIX: prefix,
    KAFKA_GROUP_ID: GROUP,
    ERROR_RATE_THRESHOLD: '0.05',
    ERROR_RATE_WINDOW_SECONDS: '600',
    ERROR_RATE_MIN_EVENTS: '5',
  });
  proc = await startTestProcess(db, { config, mode: 'kafka', capture: false, sync: true, api: false });
});
afterAll(async () => {
  await proc?.stop();
  await pool?.end();
  await kafka?.stop();
  await db?.drop();
});

const base = { lsn: 0x5000000, xid: 9000 };

async function appliedLoans(): Promise<string[]> {
  const r = await db.query<{ id: string }>(`SELECT id FROM "PrestamoNew" WHERE id LIKE 'erl-%' ORDER BY id`);
  return r.rows.map((x) => x.id);
}

async function recordedNext(): Promise<string | undefined> {
  const r = await db.query<{ next_offset: string }>(`SELECT next_offset::text FROM prestamos_cdc.consumer_offsets WHERE topic = $1 AND partition = 0`, [topic]);
  return r.rows[0]?.next_offset;
}

async function kafkaCommitted(client: Kafka): Promise<string | undefined> {
  const admin = client.admin();
  await admin.connect();
  try {
    const offsets = await admin.fetchOffsets({ groupId: GROUP, topics: [topic] });
    return offsets[0]?.partitions.find((p) => p.partition === 0)?.offset;
  } finally {
    await admin.disconnect();
  }
}

describe.skipIf(!kafkaAvailable())('error-rate pause', () => {
  it('stops the batch in progress at the message that crossed the threshold, and resumes at the next one', { timeout: 180_000 }, async () => {
    const events = Array.from({ length: 10 }, (_, i) => loanCreated(`erl-${i}`, 'j-er', streamPosition(i, base), i === 6 ? 'NO-SUCH-STATE' : 'PENDIENTE'));
    // one produce request: one record batch on partition 0, fetched as one batch
    await produceMessages(kafka.brokers, prefix, events.map((event) => ({ event, partition: 0 })));
    const client = new Kafka({ clientId: 'er-test', brokers: kafka.brokers, logLevel: logLevel.NOTHING });

    const control = await waitFor('the apply to pause', async () => {
      const r = await db.query<{ paused: boolean; reason: string }>(`SELECT paused, reason FROM prestamos_cdc.control`);
      return r.rows[0]?.paused ? r.rows[0] : false;
    }, 90_000);
    expect(control.reason).toMatch(/error rate 14\.29 % \(1 of 7 messages failed/);
    await waitFor('the offsets to be recorded', async () => (await recordedNext()) !== undefined);
    // give a batch that did not stop time to go on
    await new Promise((r) => setTimeout(r, 3000));
    expect(await appliedLoans()).toEqual(['erl-0', 'erl-1', 'erl-2', 'erl-3', 'erl-4', 'erl-5']);
    expect(await recordedNext()).toBe('7');
    expect(await waitFor('the Kafka offset commit', async () => ((await kafkaCommitted(client)) === '7' ? '7' : false), 30_000)).toBe('7');
    expect(await metricValue(proc!.url, 'prestamos_cdc_paused')).toBe(1);

    await setPaused(pool, false, null, 'test operator');
    await waitFor('the rest of the batch to be applied', async () => (await appliedLoans()).length === 9, 60_000);
    expect(await appliedLoans()).toEqual(['erl-0', 'erl-1', 'erl-2', 'erl-3', 'erl-4', 'erl-5', 'erl-7', 'erl-8', 'erl-9']);
    await waitFor('the offsets after the resume', async () => (await recordedNext()) === '10', 30_000);
    const failed = await db.query<{ row_id: string; kafka_offset: string }>(`SELECT row_id, kafka_offset::text FROM prestamos_cdc.failed_records ORDER BY id`);
    expect(failed.rows).toEqual([{ row_id: 'erl-6', kafka_offset: '6' }]);
    expect(await metricValue(proc!.url, 'prestamos_cdc_dead_letter_total')).toBe(1);
  });
});
