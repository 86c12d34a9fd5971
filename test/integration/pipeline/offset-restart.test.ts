// Offsets that cannot be trusted are detected and said, not skipped in silence (real Apache Kafka):
//   - a topic deleted and recreated while the sync is away: its offsets start at 0 again, below those
//     the group applied; the sync sees a "repeated" message with a newer source position than any it
//     applied, says so (metric, log, status, re-sync request), applies the new topic from its start and
//     re-syncs the table;
//   - a new consumer group starting on a topic whose oldest messages retention removed (played by
//     DeleteRecords, which moves the log start offset exactly as a retention pass does): a gap from
//     offset 0, said and repaired by a table re-sync.
// Each ends with the new tables and the ledger exactly what the legacy rows imply.
import { afterAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import { Kafka, logLevel, type Admin } from 'kafkajs';
import { createTestDatabase, type TestDatabase } from '../../support/database.ts';
import { kafkaAvailable, startTestKafka } from '../../support/kafka-broker.ts';
import { installRequestQueueFix } from '../../../connectors/kafka/kafkajs-request-queue-fix.ts';

import { startTestProcess, startMigrationFor, waitForCatchUp, expectConsistent, configFor, waitFor, waitForPublished } from '../../support/pipeline.ts';
import { metricValue } from '../../support/cli-process.ts';
import { generateLegacyData, insertLegacyData } from '../../../services/testdata/generator.ts';
import { topicFor } from '../../../connectors/kafka/envelope.ts';
import type { RunningProcess } from '../../../services/orchestrator/process-runner.ts';

const cleanup: (() => Promise<void>)[] = [];
afterAll(async () => {
  for (const c of cleanup.reverse()) await c().catch(() => undefined);
});

async function stage(seed: number): Promise<{ db: TestDatabase; pool: pg.Pool; admin: Admin; brokers: string[] }> {
  installRequestQueueFix();
  const db = await createTestDatabase('legacy');
  cleanup.push(() => db.drop());
  const kafka = await startTestKafka();
  cleanup.push(() => kafka.stop());
  const pool = new pg.Pool({ connectionString: db.url, max: 4 });
  cleanup.push(() => pool.end());
  await insertLegacyData(pool, generateLegacyData({ seed, juntas: 3, loansPerJunta: 30, largeNotesShare: 0 }));
  const admin = new Kafka({ clientId: 'offset-restart-test', brokers: kafka.brokers, logLevel: logLevel.NOTHING }).admin();
  await admin.connect();
  cleanup.push(() => admin.disconnect());
  return { db, pool, admin, brokers: kafka.brokers };
}

function track(p: RunningProcess): RunningProcess {
  cleanup.push(() => p.stop());
  return p;
}

describe.skipIf(!kafkaAvailable())('offsets that cannot be trusted', () => {
  it('a recreated topic is detected, applied from its start and the table re-synced', { timeout: 300_000 }, async () => {
    const { db, pool, admin, brokers } = await stage(51);
    const config = configFor(db, { KAFKA_BROKERS: brokers.join(',') });
    const topic = topicFor(config.topicPrefix, 'Prestamo');
    let capture = track(await startTestProcess(db, { config, mode: 'kafka', capture: true, sync: false, api: false }));
    let sync = track(await startTestProcess(db, { config, mode: 'kafka', capture: false, sync: true, api: false }));
    await startMigrationFor(db, config);
    await pool.query(`UPDATE "Prestamo" SET "updatedAt" = now()`);
    await pool.query(`UPDATE "Prestamo" SET "updatedAt" = now()`);
    await waitForCatchUp(db);
    const before = await db.query<{ next: string }>(`SELECT min(next_offset)::text AS next FROM prestamos_cdc.consumer_offsets WHERE topic = $1`, [topic]);
    expect(Number(before.rows[0]!.next)).toBeGreaterThan(20);
    await sync.stop();
    await capture.stop();

    // the topic is deleted and created again (the capture creates it at start)
    await admin.deleteTopics({ topics: [topic], timeout: 30_000 });
    await waitFor('the topic to be gone', async () => !(await admin.listTopics()).includes(topic), 60_000);
    capture = track(await startTestProcess(db, { config, mode: 'kafka', capture: true, sync: false, api: false }));
    await waitFor('the topic to exist again', async () => (await admin.listTopics()).includes(topic), 60_000);
    // changes the recreated topic carries at offsets the group applied on the old one
    await pool.query(`UPDATE "Prestamo" SET estado = 'CANCELADO', "updatedAt" = now() WHERE id IN (SELECT id FROM "Prestamo" ORDER BY id LIMIT 6)`);
    await waitForPublished(db, config.slotName);

    sync = track(await startTestProcess(db, { config, mode: 'kafka', capture: false, sync: true, api: false }));
    const request = await waitFor('a re-sync request for the restart', async () => {
      const r = await db.query<{ reason: string; tables: string[] }>(`SELECT reason, tables FROM prestamos_cdc.snapshot_requests WHERE reason LIKE 'offsets of%' ORDER BY id LIMIT 1`);
      return r.rows[0];
    }, 120_000);
    expect(request.tables).toEqual(['Prestamo']);
    expect(request.reason).toMatch(new RegExp(`^offsets of ${topic.replace(/\./g, '\\.')}\\[\\d\\] restarted at \\d+ below the applied \\d+ \\(topic recreated or broker data loss\\)`));
    expect(await metricValue(sync.url, 'prestamos_cdc_offset_restarts_total', { topic })).toBeGreaterThan(0);
    const restarts = await waitFor('the restart in the sync status', async () => {
      const r = await db.query<{ restarts: { topic: string; reason: string }[] | null }>(`SELECT status->'offsetRestarts' AS restarts FROM prestamos_cdc.components WHERE component = 'sync'`);
      return r.rows[0]?.restarts?.length ? r.rows[0].restarts : false;
    });
    expect(restarts[0]!.topic).toBe(topic);
    expect(restarts[0]!.reason).toMatch(/newer than any the group applied|high watermark/);
    // a restart is not a gap
    expect(await metricValue(sync.url, 'prestamos_cdc_offset_gaps_total')).toBe(0);

    await waitForCatchUp(db, 180_000);
    await expectConsistent(db);
    const cancelled = await db.query<{ n: string }>(`SELECT count(*)::text AS n FROM "PrestamoNew" WHERE status = 'cancelled' AND id IN (SELECT id FROM "Prestamo" ORDER BY id LIMIT 6)`);
    expect(cancelled.rows[0]!.n).toBe('6');
  });

  it('a new consumer group on a topic whose oldest messages retention removed reports a gap and re-syncs', { timeout: 300_000 }, async () => {
    const { db, pool, admin, brokers } = await stage(52);
    const config = configFor(db, { KAFKA_BROKERS: brokers.join(',') });
    const topic = topicFor(config.topicPrefix, 'Prestamo');
    track(await startTestProcess(db, { config, mode: 'kafka', capture: true, sync: false, api: false }));
    await startMigrationFor(db, config);
    await waitFor('the first load to be emitted', async () => {
      const r = await db.query<{ status: string }>(`SELECT status FROM prestamos_cdc.snapshot_requests ORDER BY id LIMIT 1`);
      return r.rows[0]?.status === 'emitted';
    }, 120_000);
    await pool.query(`UPDATE "Prestamo" SET "updatedAt" = now()`);
    await waitForPublished(db, config.slotName);
    // retention removes everything the topic held so far, before any consumer of the group read it
    const ends = await admin.fetchTopicOffsets(topic);
    await admin.deleteTopicRecords({ topic, partitions: ends.map((p) => ({ partition: p.partition, offset: p.high })) });
    await pool.query(`UPDATE "Prestamo" SET estado = 'CANCELADO', "updatedAt" = now() WHERE id IN (SELECT id FROM "Prestamo" ORDER BY id LIMIT 4)`);
    await waitForPublished(db, config.slotName);

    const sync = track(await startTestProcess(db, { config, mode: 'kafka', capture: false, sync: true, api: false }));
    const request = await waitFor('a re-sync request for the gap', async () => {
      const r = await db.query<{ reason: string; tables: string[] }>(`SELECT reason, tables FROM prestamos_cdc.snapshot_requests WHERE reason LIKE 'offset gap%' ORDER BY id LIMIT 1`);
      return r.rows[0];
    }, 120_000);
    expect(request.tables).toEqual(['Prestamo']);
    expect(request.reason).toMatch(/offsets 0\.\.\d+ \(\d+ messages never applied; a new consumer group on a topic retention had trimmed\)/);
    expect(await metricValue(sync.url, 'prestamos_cdc_offset_gaps_total', { topic })).toBeGreaterThan(0);
    const gaps = await waitFor('the gap in the sync status', async () => {
      const r = await db.query<{ gaps: { newGroup: boolean; fromOffset: string }[] | null }>(`SELECT status->'gaps' AS gaps FROM prestamos_cdc.components WHERE component = 'sync'`);
      return r.rows[0]?.gaps?.length ? r.rows[0].gaps : false;
    });
    expect(gaps[0]).toMatchObject({ newGroup: true, fromOffset: '0' });

    await waitForCatchUp(db, 180_000);
    await expectConsistent(db);
  });
});
