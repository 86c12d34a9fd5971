// The product's topics and produce requests on a real broker (auto-create off):
//   - missing topics are created with the configured partitions and settings;
//   - an existing topic that would break ordering or lose data is refused at start, with the topic,
//     the setting and the fix in the error;
//   - a transaction far larger than max.message.bytes is split into requests the broker accepts;
//   - a single change too large for any request becomes a failed record (key, size) and the stream
//     goes on; a later, smaller change of the same row brings the shadow row back.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import { Kafka, logLevel, ConfigResourceTypes } from 'kafkajs';
import { createTestDatabase, type TestDatabase } from '../../support/database.ts';
import { kafkaAvailable, startTestKafka, type TestKafka } from '../../support/kafka-broker.ts';
import { startTestProcess, startMigrationFor, waitForCatchUp, expectConsistent, configFor, consistency, waitFor } from '../../support/pipeline.ts';
import { generateLegacyData, insertLegacyData } from '../../../services/testdata/generator.ts';
import { installRequestQueueFix } from '../../../connectors/kafka/kafkajs-request-queue-fix.ts';
import type { RunningProcess } from '../../../services/orchestrator/process-runner.ts';

let kafka: TestKafka;
const cleanup: (() => Promise<unknown>)[] = [];

beforeAll(async () => {
  installRequestQueueFix();
  kafka = await startTestKafka();
});
afterAll(async () => {
  for (const c of cleanup.reverse()) await c().catch(() => undefined);
});

function admin() {
  return new Kafka({ clientId: 'topics-test', brokers: kafka.brokers, logLevel: logLevel.NOTHING }).admin();
}

async function freshDb(): Promise<{ db: TestDatabase; pool: pg.Pool }> {
  const db = await createTestDatabase('legacy');
  const pool = new pg.Pool({ connectionString: db.url, max: 4 });
  cleanup.push(() => db.drop(), () => pool.end());
  return { db, pool };
}

describe.skipIf(!kafkaAvailable())('Kafka topics and request sizes', () => {
  it('creates its topics with the configured partitions, retention, min.insync.replicas and message size', async () => {
    const { db } = await freshDb();
    const config = configFor(db, { KAFKA_BROKERS: kafka.brokers.join(','), KAFKA_TOPIC_PARTITIONS: '5', KAFKA_MAX_MESSAGE_BYTES: '2000000' });
    const proc = await startTestProcess(db, { config, mode: 'kafka' });
    cleanup.push(() => proc.stop());
    const a = admin();
    await a.connect();
    try {
      const names = ['Prestamo', 'PagoPrestamo', 'Accion', 'Multa'].map((t) => `${config.topicPrefix}.public.${t}`).concat(`${config.topicPrefix}.prestamos_cdc.dlq`);
      const meta = await a.fetchTopicMetadata({ topics: names });
      expect(meta.topics.map((t) => t.partitions.length)).toEqual([5, 5, 5, 5, 5]);
      const configs = await a.describeConfigs({ includeSynonyms: false, resources: names.map((name) => ({ type: ConfigResourceTypes.TOPIC, name })) });
      for (const r of configs.resources) {
        const get = (n: string) => r.configEntries.find((e) => e.configName === n)?.configValue;
        expect({ topic: r.resourceName, policy: get('cleanup.policy'), ms: get('retention.ms'), bytes: get('retention.bytes'), isr: get('min.insync.replicas'), max: get('max.message.bytes') })
          .toEqual({ topic: r.resourceName, policy: 'delete', ms: '-1', bytes: '-1', isr: '1', max: '2000000' });
      }
    } finally {
      await a.disconnect();
    }
  });

  it('refuses to start on a topic with fewer partitions than configured, or compacted', async () => {
    const { db } = await freshDb();
    const config = configFor(db, { KAFKA_BROKERS: kafka.brokers.join(','), KAFKA_TOPIC_PARTITIONS: '3' });
    const a = admin();
    await a.connect();
    await a.createTopics({
      waitForLeaders: false,
      topics: [
        { topic: `${config.topicPrefix}.public.Prestamo`, numPartitions: 2, replicationFactor: 1 },
        { topic: `${config.topicPrefix}.public.Multa`, numPartitions: 3, replicationFactor: 1, configEntries: [{ name: 'cleanup.policy', value: 'compact' }] },
      ],
    });
    await a.disconnect();
    const started = startTestProcess(db, { config, mode: 'kafka', capture: true, sync: false });
    await expect(started).rejects.toThrow(/topic p_\w+\.public\.Prestamo has 2 partitions but KAFKA_TOPIC_PARTITIONS is 3/);
    await expect(started).rejects.toThrow(/topic p_\w+\.public\.Multa has cleanup\.policy=compact/);
    await expect(startTestProcess(db, { config, mode: 'kafka', capture: false, sync: true })).rejects.toThrow(/KAFKA_TOPIC_PARTITIONS is 3/);
  });

  it('splits a transaction larger than max.message.bytes into accepted requests, and routes a change too large for any to the failed records', async () => {
    const { db, pool } = await freshDb();
    await insertLegacyData(pool, generateLegacyData({ seed: 41, juntas: 3, loansPerJunta: 10, largeNotesShare: 0 }));
    const config = configFor(db, { KAFKA_BROKERS: kafka.brokers.join(','), KAFKA_MAX_MESSAGE_BYTES: '65536', PUBLISH_BATCH_SIZE: '5000' });
    const proc: RunningProcess = await startTestProcess(db, { config, mode: 'kafka' });
    cleanup.push(() => proc.stop());
    await startMigrationFor(db, config);
    await waitForCatchUp(db);

    // ~4 MB in one transaction: 800 loans with 5 kB of notes each (about 60 times the request budget)
    await pool.query(
      `INSERT INTO "Prestamo" (id, "juntaId", "miembroId", monto, "tasaInteres", cuotas, estado, observaciones, "createdAt", "updatedAt")
       SELECT 'bulk-' || lpad(g::text, 4, '0'), (SELECT id FROM "Junta" ORDER BY id LIMIT 1), 'm' || g, 100 + g, 0.02, 6, 'DESEMBOLSADO',
              repeat(md5(g::text), 160), now(), now()
         FROM generate_series(1, 800) g`,
    );
    // one loan whose notes alone are over the 64 KiB limit (random hex: gzip cannot hide it), in a
    // transaction with a change that must still arrive
    await pool.query('BEGIN');
    await pool.query(
      `INSERT INTO "Prestamo" (id, "juntaId", "miembroId", monto, "tasaInteres", cuotas, estado, observaciones, "createdAt", "updatedAt")
       SELECT 'huge-1', (SELECT id FROM "Junta" ORDER BY id LIMIT 1), 'm', 500, 0.02, 6, 'DESEMBOLSADO',
              (SELECT string_agg(md5(random()::text || g), '') FROM generate_series(1, 4000) g), now(), now()`,
    );
    await pool.query(`UPDATE "Prestamo" SET monto = monto + 1, "updatedAt" = now() WHERE id = 'bulk-0001'`);
    await pool.query('COMMIT');
    await waitForCatchUp(db);

    const failed = await waitFor('the oversize change as a failed record', async () => {
      const r = await db.query<{ source_table: string; row_id: string; error_code: string; error: string; status: string }>(
        `SELECT source_table, row_id, error_code, error, status FROM prestamos_cdc.failed_records WHERE error_code = 'EVENT_TOO_LARGE'`,
      );
      return r.rows.length > 0 ? r.rows : false;
    });
    expect(failed).toHaveLength(1);
    expect(failed[0]).toMatchObject({ source_table: 'Prestamo', row_id: 'huge-1', status: 'open' });
    expect(failed[0]!.error).toMatch(/is \d{6} bytes encoded, over the \d+ bytes a produce request to p_\w+\.public\.Prestamo can carry/);
    const bulk = await db.query<{ n: string; monto: string }>(`SELECT count(*)::text AS n, (SELECT principal::text FROM "PrestamoNew" WHERE id = 'bulk-0001') AS monto FROM "PrestamoNew" WHERE id LIKE 'bulk-%'`);
    expect(bulk.rows[0]).toEqual({ n: '800', monto: '102.00' });
    const report = await consistency(db);
    expect(report.prestamo.map((p) => p.id)).toEqual(['huge-1']);
    expect(report.pago).toEqual([]);

    // the application shortens the notes: that change fits, and the row (and its ledger) converges
    await pool.query(`UPDATE "Prestamo" SET observaciones = 'short', "updatedAt" = now() WHERE id = 'huge-1'`);
    await waitForCatchUp(db);
    await expectConsistent(db);
    expect((await db.query(`SELECT count(*)::int AS n FROM prestamos_cdc.failed_records WHERE error_code = 'EVENT_TOO_LARGE'`)).rows[0]!.n).toBe(1);
  });
});
