// Group commit through Kafka: the sync handles several partitions at once and applies the rows their
// batches bring at the same time in one transaction, each partition's offsets recorded in it. Six
// partitions of ten loan changes each, fetched together after a pause, take fewer transactions than
// partitions; when the database refuses one row of such a transaction, each partition is applied on
// its own, which isolates the refused row, and everything else is applied once.
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
import type { ChangeEvent } from '../../../services/domain/change-event.ts';
import type { RunningProcess } from '../../../services/orchestrator/process-runner.ts';

let db: TestDatabase;
let kafka: TestKafka;
let pool: pg.Pool;
let proc: RunningProcess | undefined;
const prefix = `gcommit${Date.now()}`;
const PARTITIONS = 6;
let GROUP = '';
let lsnSeq = 0;

beforeAll(async () => {
  installRequestQueueFix();
  db = await createTestDatabase('migrated');
  GROUP = `g_${db.name}`;
  kafka = await startTestKafka();
  pool = new pg.Pool({ connectionString: db.url, max: 4 });
  await pool.query(`INSERT INTO "Junta" (id, nombre) VALUES ('j-gc', 'group commit')`);
  // paused from the start: what is produced meanwhile is fetched at once, every partition together
  await setPaused(pool, true, 'test: gather messages first', 'test');
  const config = configFor(db, { KAFKA_BROKERS: kafka.brokers.join(','), TOPIC_PREFIX: prefix, KAFKA_GROUP_ID: GROUP, KAFKA_TOPIC_PARTITIONS: String(PARTITIONS) });
  proc = await startTestProcess(db, { config, mode: 'kafka', capture: false, sync: true, api: false });
});
afterAll(async () => {
  await proc?.stop();
  await pool?.end();
  await kafka?.stop();
  await db?.drop();
});

const base = { lsn: 0x6000000, xid: 20_000 };
const position = () => streamPosition(lsnSeq++, base);
const loanChange = (id: string) => loanCreated(id, 'j-gc', position());

function shareChange(id: string, cantidad: number, valorUnitario: string): ChangeEvent {
  const p = position();
  return { kind: 'change', table: 'Accion', op: 'c', key: id, after: { id, juntaId: 'j-gc', miembroId: 'm-gc', cantidad, valorUnitario, fecha: p.commitTime }, unchangedToast: [], position: p };
}

const produce = (events: { event: ChangeEvent; partition: number }[]) => produceMessages(kafka.brokers, prefix, events);

const appliedLoans = async () => Number((await db.query<{ n: string }>(`SELECT count(*)::text AS n FROM "PrestamoNew" WHERE id LIKE 'gc-%'`)).rows[0]!.n);
const recorded = async (topic: string) =>
  (await db.query<{ partition: number; next_offset: string }>(`SELECT partition, next_offset::text FROM prestamos_cdc.consumer_offsets WHERE topic = $1 ORDER BY partition`, [topic])).rows;
/** The end offset of each partition of `topic` (what the group must have recorded once it applied everything). */
async function endOffsets(topic: string): Promise<{ partition: number; next_offset: string }[]> {
  const admin = new Kafka({ clientId: 'gc-admin', brokers: kafka.brokers, logLevel: logLevel.NOTHING }).admin();
  await admin.connect();
  try {
    const offsets = await admin.fetchTopicOffsets(topic);
    return offsets.filter((o) => o.high !== '0').map((o) => ({ partition: o.partition, next_offset: o.high })).sort((a, b) => a.partition - b.partition);
  } finally {
    await admin.disconnect();
  }
}
const applyTransactions = () => metricValue(proc!.url, 'prestamos_cdc_apply_batch_size_count');

describe.skipIf(!kafkaAvailable())('group commit across partitions', () => {
  const loans = topicFor(prefix, 'Prestamo');

  it('applies the rows of partitions fetched together in fewer transactions than partitions, offsets per partition', { timeout: 120_000 }, async () => {
    const events = Array.from({ length: 10 * PARTITIONS }, (_, i) => ({ event: loanChange(`gc-${String(i).padStart(3, '0')}`), partition: i % PARTITIONS }));
    await produce(events);
    const before = await applyTransactions();
    await setPaused(pool, false, null, 'test');
    await waitFor('every loan applied', async () => (await appliedLoans()) === events.length, 60_000);
    const ends = await endOffsets(loans);
    expect(ends.map((e) => e.partition)).toEqual([0, 1, 2, 3, 4, 5]);
    await waitFor('every partition recorded', async () => JSON.stringify(await recorded(loans)) === JSON.stringify(ends), 30_000);
    const transactions = (await applyTransactions()) - before;
    expect(transactions).toBeGreaterThan(0);
    expect(transactions).toBeLessThan(PARTITIONS);
  });

  it('isolates a row the database refuses by applying each partition on its own; the rest is applied once', { timeout: 120_000 }, async () => {
    await setPaused(pool, true, 'test: gather messages first', 'test');
    await waitFor('the pause to be seen', async () => (await metricValue(proc!.url, 'prestamos_cdc_paused')) === 1, 10_000);
    const events = [
      ...Array.from({ length: 5 * PARTITIONS }, (_, i) => ({ event: loanChange(`gc-b${String(i).padStart(3, '0')}`), partition: i % PARTITIONS })),
      // valid on its own, but its worth does not fit the ledger's numeric(14,2)
      { event: shareChange('gc-share-refused', 2147483647, '9999999999.99'), partition: 0 },
      { event: shareChange('gc-share-ok', 3, '10.00'), partition: 1 },
    ];
    await produce(events);
    await setPaused(pool, false, null, 'test');
    await waitFor('every loan applied', async () => (await appliedLoans()) === 10 * PARTITIONS + 5 * PARTITIONS, 60_000);
    await waitFor('the refused share recorded', async () => (await db.query(`SELECT 1 FROM prestamos_cdc.failed_records WHERE row_id = 'gc-share-refused'`)).rowCount === 1, 30_000);
    const failed = await db.query<{ row_id: string; error_code: string; partition: number }>(`SELECT row_id, error_code, partition FROM prestamos_cdc.failed_records`);
    expect(failed.rows).toEqual([{ row_id: 'gc-share-refused', error_code: 'sqlstate_22003', partition: 0 }]);
    const shares = await db.query<{ accion_id: string; amount: string; n: string }>(`SELECT accion_id, sum(amount)::text AS amount, count(*)::text AS n FROM capital_movements WHERE accion_id LIKE 'gc-%' GROUP BY accion_id`);
    expect(shares.rows).toEqual([{ accion_id: 'gc-share-ok', amount: '30.00', n: '1' }]);
    const ends = await endOffsets(loans);
    await waitFor('every partition recorded', async () => JSON.stringify(await recorded(loans)) === JSON.stringify(ends), 30_000);
    const shareEnds = await endOffsets(topicFor(prefix, 'Accion'));
    expect(shareEnds.map((e) => e.partition)).toEqual([0, 1]);
    await waitFor('the share partitions recorded', async () => JSON.stringify(await recorded(topicFor(prefix, 'Accion'))) === JSON.stringify(shareEnds), 30_000);
    // every loan once: one row each, and nothing failed but the share
    expect(await appliedLoans()).toBe(15 * PARTITIONS);
  });
});
