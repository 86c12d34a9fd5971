// Nothing retries for ever in silence: a snapshot marker the database refuses (its chunk id is out of
// bigint range: SQLSTATE 22003, not a transient error) fails its batch at the same position again and
// again. After APPLY_MAX_ATTEMPTS attempts the apply pauses with the reason in the shared control row
// (API), the metrics and the log; the change before the marker is applied, the one after it is not, and
// the offsets recorded stop before the marker.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import { createTestDatabase, type TestDatabase } from '../../support/database.ts';
import { kafkaAvailable, startTestKafka, type TestKafka } from '../../support/kafka-broker.ts';
import { installRequestQueueFix } from '../../../connectors/kafka/kafkajs-request-queue-fix.ts';
import { startCli, metricValue, type CliProcess } from '../../support/cli-process.ts';
import { waitFor } from '../../support/pipeline.ts';
import { topicFor } from '../../../connectors/kafka/envelope.ts';
import type { ChangeEvent } from '../../../services/domain/change-event.ts';
import { loanCreated, produceMessages, streamPosition } from '../../support/hand-made-events.ts';

let db: TestDatabase;
let kafka: TestKafka;
let sync: CliProcess | undefined;
const prefix = `stuck${Date.now()}`;
const topic = topicFor(prefix, 'Prestamo');

beforeAll(async () => {
  installRequestQueueFix();
  db = await createTestDatabase('migrated');
  kafka = await startTestKafka();
  sync = await startCli(['sync'], {
    DATABASE_URL: db.url,
    KAFKA_BROKERS: kafka.brokers.join(','),
    TOPIC_PREFIX: prefix,
    SLOT_NAME: `slot_${db.name}`,
    KAFKA_GROUP_ID: `g_${db.name}`,
    KAFKA_REPLICATION_FACTOR: '1',
    KAFKA_TOPIC_PARTITIONS: '3',
    APPLY_MAX_ATTEMPTS: '3',
    LOG_LEVEL: 'info',
  });
});
afterAll(async () => {
  await sync?.stop(5000);
  await kafka?.stop();
  await db?.drop();
});

const base = { lsn: 0x6000000, xid: 7000 };
const loanChange = (i: number) => loanCreated(`stk-${i}`, 'j-stk', streamPosition(i, base));

const badMarker: ChangeEvent = {
  kind: 'chunk-end', table: 'Prestamo', scope: { kind: 'range', afterKey: null, throughKey: null }, keys: [], markers: 1, markerIndex: 0,
  position: { lsn: streamPosition(1, base).lsn, snapshot: '100:100:', chunkId: '99999999999999999999', requestId: '1', readTime: streamPosition(1, base).commitTime },
};

describe.skipIf(!kafkaAvailable())('a step that keeps failing', () => {
  it('pauses the apply after a bounded number of attempts, with the reason', { timeout: 180_000 }, async () => {
    await produceMessages(kafka.brokers, prefix, [loanChange(0), badMarker, loanChange(2)].map((event) => ({ event, partition: 0 })));

    const control = await waitFor('the apply to pause', async () => {
      const r = await db.query<{ paused: boolean; reason: string; changed_by: string }>(`SELECT paused, reason, changed_by FROM prestamos_cdc.control`);
      return r.rows[0]?.paused ? r.rows[0] : false;
    }, 60_000);
    expect(control.reason).toMatch(new RegExp(`^apply stuck: snapshot_marker failed 3 times on ${prefix}\\.public\\.Prestamo\\[0\\] at offset 1: .*out of range`));
    expect(control.changed_by).toMatch(/^sync /);
    expect(await metricValue(sync!.url, 'prestamos_cdc_apply_attempts_failed_total', { step: 'snapshot_marker' })).toBe(3);
    expect(await metricValue(sync!.url, 'prestamos_cdc_paused')).toBe(1);
    const ready = await (await fetch(`${sync!.url}/readyz`)).json() as { checks: Record<string, { detail: string }> };
    expect(ready.checks.sync?.detail).toMatch(/^paused: apply stuck: snapshot_marker/);
    expect(sync!.output()).toMatch(/apply paused: a step keeps failing on the same batch/);

    // it stays paused: no more attempts, nothing after the marker applied
    await new Promise((r) => setTimeout(r, 4000));
    expect(await metricValue(sync!.url, 'prestamos_cdc_apply_attempts_failed_total', { step: 'snapshot_marker' })).toBe(3);
    const loans = await db.query<{ id: string }>(`SELECT id FROM "PrestamoNew" WHERE id LIKE 'stk-%' ORDER BY id`);
    expect(loans.rows.map((r) => r.id)).toEqual(['stk-0']);
    const next = await db.query<{ next_offset: string }>(`SELECT next_offset::text FROM prestamos_cdc.consumer_offsets WHERE topic = $1 AND partition = 0`, [topic]);
    expect(next.rows[0]?.next_offset).toBe('1');
  });
});
