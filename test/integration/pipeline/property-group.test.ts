// Property: a consumer group of sync processes stays exact through anything its members do. Capture
// and three syncs run as real processes (`node cli/main.ts capture|sync`) on topics of at least three
// partitions while a random application workload writes; a seeded sequence of events SIGKILLs and
// restarts syncs and the capture, makes syncs leave (SIGTERM) and join. At the end the new tables and
// the ledger equal what the legacy rows imply (the reconciler's SQL verification views), and — since
// no message was lost in Kafka — no process reported an offset gap or a restart, and no table re-sync
// was requested.
import { afterAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import { Kafka, logLevel } from 'kafkajs';
import { kafkaAvailable, startTestKafka } from '../../support/kafka-broker.ts';
import { installRequestQueueFix } from '../../../connectors/kafka/kafkajs-request-queue-fix.ts';

import { startCli, type CliProcess } from '../../support/cli-process.ts';
import { createTestDatabase } from '../../support/database.ts';
import { startMigrationFor, waitForCatchUp, expectConsistent, configFor } from '../../support/pipeline.ts';
import { generateLegacyData, insertLegacyData } from '../../../services/testdata/generator.ts';
import { startLegacyWriter, type WriterOp } from '../../../services/testdata/legacy-writer.ts';
import { topicFor } from '../../../connectors/kafka/envelope.ts';
import { CAPTURED_TABLES } from '../../../services/domain/change-event.ts';

const SEED = Number(process.env.PROPERTY_SEED ?? 4242);
const OPS: WriterOp[] = ['insertLoan', 'disburseLoan', 'changeStatus', 'changeTerms', 'insertPayment', 'paymentWithStatusChange', 'voidPayment', 'deletePayment', 'moveLoanToOtherJunta', 'insertAccion', 'updateAccion', 'insertMulta', 'payMulta'];

const cleanup: (() => Promise<void>)[] = [];
afterAll(async () => {
  for (const c of cleanup.reverse()) await c().catch(() => undefined);
});

describe.skipIf(!kafkaAvailable())('property: a group of sync processes under kills, restarts, joins and leaves', () => {
  it(`seed ${SEED}: exact result, and no gap when no message was lost`, { timeout: 420_000 }, async () => {
    installRequestQueueFix();
    const db = await createTestDatabase('legacy');
    cleanup.push(() => db.drop());
    const kafka = await startTestKafka();
    cleanup.push(() => kafka.stop());
    const pool = new pg.Pool({ connectionString: db.url, max: 6 });
    pool.on('error', () => undefined);
    cleanup.push(() => pool.end());
    await insertLegacyData(pool, generateLegacyData({ seed: SEED, juntas: 6, loansPerJunta: 25, largeNotesShare: 0 }));
    const prefix = `pg${SEED}${Date.now()}`;
    const env = {
      DATABASE_URL: db.url,
      KAFKA_BROKERS: kafka.brokers.join(','),
      TOPIC_PREFIX: prefix,
      SLOT_NAME: `slot_${db.name}`,
      KAFKA_GROUP_ID: `g_${db.name}`,
      KAFKA_REPLICATION_FACTOR: '1',
      KAFKA_TOPIC_PARTITIONS: '3',
      HEARTBEAT_INTERVAL_MS: '500',
      KAFKA_SESSION_TIMEOUT_MS: '10000',
      SHUTDOWN_TIMEOUT_MS: '15000',
      APPLY_BATCH_SIZE: '200',
    };
    const all: CliProcess[] = [];
    const start = async (name: 'capture' | 'sync') => {
      const p = await startCli([name], env);
      all.push(p);
      cleanup.push(() => p.stop(5000));
      return p;
    };
    let capture = await start('capture');
    const syncs: CliProcess[] = [await start('sync'), await start('sync'), await start('sync')];
    await startMigrationFor(db, configFor(db, { TOPIC_PREFIX: prefix, KAFKA_GROUP_ID: `g_${db.name}` }));

    // a seeded sequence of events, so that a failure can be replayed (PROPERTY_SEED)
    let state = SEED;
    const next = () => ((state = (state * 1103515245 + 12345) & 0x7fffffff), state / 0x7fffffff);
    const pick = <T,>(xs: T[]): T => xs[Math.floor(next() * xs.length)]!;
    const events: string[] = [];
    const writer = startLegacyWriter({ pool, seed: SEED + 1, workers: 3, ratePerSecond: 120, ops: OPS });
    try {
      for (let round = 0; round < 14; round++) {
        await new Promise((r) => setTimeout(r, 1000 + Math.floor(next() * 2500)));
        const roll = next();
        if (roll < 0.2) {
          const victim = pick(syncs);
          victim.kill('SIGKILL');
          await victim.exited;
          syncs[syncs.indexOf(victim)] = await start('sync');
          events.push('kill+restart sync');
        } else if (roll < 0.3) {
          capture.kill('SIGKILL');
          await capture.exited;
          capture = await start('capture');
          events.push('kill+restart capture');
        } else if (roll < 0.65 && syncs.length > 1) {
          const leaver = pick(syncs);
          await leaver.stop();
          syncs.splice(syncs.indexOf(leaver), 1);
          events.push('leave');
        } else if (syncs.length < 4) {
          syncs.push(await start('sync'));
          events.push('join');
        } else {
          const victim = pick(syncs);
          victim.kill('SIGKILL');
          await victim.exited;
          syncs.splice(syncs.indexOf(victim), 1);
          events.push('kill sync');
        }
      }
      while (syncs.length < 3) syncs.push(await start('sync'));
      await new Promise((r) => setTimeout(r, 2000));
    } finally {
      await writer.stop();
    }
    console.log(`property-group seed ${SEED}: ${events.join(', ')}`);
    expect(writer.stats.errors).toEqual([]);
    expect(writer.stats.operations).toBeGreaterThan(500);

    await waitForCatchUp(db, 240_000).catch((err: Error) => {
      throw new Error(`${err.message}\nevents: ${events.join(', ')}\n--- a sync ---\n${syncs[0]!.output().slice(-4000)}`);
    });
    await expectConsistent(db);

    // every topic has at least 3 partitions, and the group applied from each of them
    const admin = new Kafka({ clientId: 'property-group', brokers: kafka.brokers, logLevel: logLevel.NOTHING }).admin();
    await admin.connect();
    try {
      const meta = await admin.fetchTopicMetadata({ topics: CAPTURED_TABLES.map((t) => topicFor(prefix, t)) });
      for (const t of meta.topics) expect(t.partitions.length, t.name).toBeGreaterThanOrEqual(3);
    } finally {
      await admin.disconnect();
    }
    const partitions = await db.query<{ n: string }>(`SELECT count(*)::text AS n FROM prestamos_cdc.consumer_offsets`);
    expect(Number(partitions.rows[0]!.n)).toBeGreaterThanOrEqual(3 * CAPTURED_TABLES.length);

    // nothing was lost, so nothing may have been called a gap or a restart, by any process, ever
    const resyncs = await db.query<{ reason: string }>(`SELECT reason FROM prestamos_cdc.snapshot_requests WHERE scope = 'tables' AND requested_by LIKE 'sync %'`);
    expect(resyncs.rows, `events: ${events.join(', ')}`).toEqual([]);
    for (const p of all) {
      expect(p.output(), `events: ${events.join(', ')}`).not.toMatch(/offset gap|offsets restarted/);
    }
  });
});
