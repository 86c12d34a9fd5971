// Capture and sync killed with SIGKILL at chosen points, then restarted: the new tables and the ledger
// are still exactly what the legacy rows imply — nothing lost, nothing counted twice.
//   capture.after-ack-before-confirm       Kafka acknowledged a transaction, the slot was not told
//   sync.after-commit-before-offset-commit the database committed a batch, Kafka never got the offset
//   capture.mid-snapshot-chunk             part of a snapshot chunk published, its marker not
//   sync.mid-snapshot-chunk                part of a snapshot chunk applied, its marker not
// Each runs as a real process (`node cli/main.ts capture|sync`) killed by its own hand (CRASH_AT).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import { createTestDatabase, type TestDatabase } from '../../support/database.ts';
import { kafkaAvailable, startTestKafka, type TestKafka } from '../../support/kafka-broker.ts';
import { startCli, metricValue, type CliProcess } from '../../support/cli-process.ts';
import { startMigrationFor, waitForCatchUp, expectConsistent, configFor, waitFor } from '../../support/pipeline.ts';
import { generateLegacyData, insertLegacyData } from '../../../services/testdata/generator.ts';
import { startLegacyWriter } from '../../../services/testdata/legacy-writer.ts';

let db: TestDatabase;
let kafka: TestKafka;
let pool: pg.Pool;
const procs: CliProcess[] = [];

beforeAll(async () => {
  db = await createTestDatabase('legacy');
  kafka = await startTestKafka();
  pool = new pg.Pool({ connectionString: db.url, max: 8 });
  await insertLegacyData(pool, generateLegacyData({ seed: 77, juntas: 15, loansPerJunta: 40, largeNotesShare: 0.05 }));
});
afterAll(async () => {
  for (const p of procs) await p.stop(5000);
  if (process.env.TEST_DUMP) {
    const fs = await import('node:fs');
    procs.forEach((p, i) => fs.writeFileSync(`${process.env.TEST_DUMP}.proc${i}`, p.output()));
  }
  await pool?.end();
  await kafka?.stop();
  await db?.drop();
});

describe.skipIf(!kafkaAvailable())('crash recovery', () => {
  it('SIGKILL at every chosen point, restart, and the result is still exact', { timeout: 420_000 }, async () => {
    const prefix = `crash${Date.now()}`;
    const env = {
      DATABASE_URL: db.url,
      KAFKA_BROKERS: kafka.brokers.join(','),
      TOPIC_PREFIX: prefix,
      KAFKA_GROUP_ID: `g_${db.name}`,
      KAFKA_REPLICATION_FACTOR: '1',
      SLOT_NAME: `slot_${db.name}`,
      SNAPSHOT_CHUNK_SIZE: '200',
      PUBLISH_BATCH_SIZE: '50',
      APPLY_BATCH_SIZE: '50',
      HEARTBEAT_INTERVAL_MS: '500',
      KAFKA_SESSION_TIMEOUT_MS: '8000',
      LOG_LEVEL: process.env.TEST_CHILD_LOG_LEVEL ?? 'warn',
    };
    const start = async (cmd: 'capture' | 'sync', crashAt?: string) => {
      const p = await startCli([cmd], crashAt ? { ...env, CRASH_AT: crashAt } : env);
      procs.push(p);
      return p;
    };
    const step = (msg: string) => process.env.TEST_LOG_LEVEL && console.log(new Date().toISOString(), msg);
    const killedBy = async (p: CliProcess, what: string) => {
      step(`waiting for ${what}`);
      const r = await Promise.race([p.exited, new Promise<null>((res) => setTimeout(() => res(null), 90_000))]);
      if (r === null && process.env.TEST_DUMP) (await import('node:fs')).writeFileSync(`${process.env.TEST_DUMP}.${what}`, p.output());
      expect(r, `${what} should have crashed:\n${p.output().slice(-3000)}`).toEqual({ code: null, signal: 'SIGKILL' });
      expect(p.output()).toContain(`CRASH_AT ${what}`);
      step(`${what}: crashed as arranged`);
    };

    // 1. the first-load snapshot: capture dies with half a chunk published, sync with half a chunk applied
    let capture = await start('capture', 'capture.mid-snapshot-chunk:3');
    let sync = await start('sync', 'sync.mid-snapshot-chunk:4');
    await startMigrationFor(db, configFor(db, { TOPIC_PREFIX: prefix }));
    await killedBy(capture, 'capture.mid-snapshot-chunk');
    capture = await start('capture');
    await killedBy(sync, 'sync.mid-snapshot-chunk');
    sync = await start('sync');

    // 2. streaming under live writes: capture dies between Kafka's ack and the slot confirmation,
    //    sync between its database commit and the Kafka offset commit
    // a steady writer, light enough that no partition outgrows the mock broker's retention (5 MiB)
    const writer = startLegacyWriter({
      pool,
      seed: 78,
      workers: 3,
      ratePerSecond: 150,
      ops: ['insertLoan', 'disburseLoan', 'changeStatus', 'changeTerms', 'insertPayment', 'paymentWithStatusChange', 'voidPayment', 'deletePayment', 'touchOtherColumnOfToastedLoan', 'moveLoanToOtherJunta', 'insertAccion', 'updateAccion', 'insertMulta', 'payMulta', 'deleteMulta'],
    });
    try {
    await new Promise((r) => setTimeout(r, 1500));
    await capture.stop();
    capture = await start('capture', 'capture.after-ack-before-confirm:20');
    await killedBy(capture, 'capture.after-ack-before-confirm');
    capture = await start('capture');
    step('stopping sync');
    await sync.stop();
    step('sync stopped');
    if (process.env.TEST_DUMP) (await import('node:fs')).writeFileSync(process.env.TEST_DUMP, sync.output());
    sync = await start('sync', 'sync.after-commit-before-offset-commit:10');
    await killedBy(sync, 'sync.after-commit-before-offset-commit');
    sync = await start('sync');
    await new Promise((r) => setTimeout(r, 1500));
    } finally {
      await writer.stop();
    }
    expect(writer.stats.errors).toEqual([]);

    step('waiting for catch-up');
    await waitForCatchUp(db, 180_000);
    step('caught up');
    const report = await expectConsistent(db);
    expect(report.counts.loans).toBeGreaterThan(400);
    // Redelivery really happened and changed nothing: the restarted sync saw events it already had.
    await waitFor('the sync metrics', async () => (await metricValue(sync.url, 'prestamos_cdc_events_applied_total')) > 0);
    expect(await metricValue(sync.url, 'prestamos_cdc_events_stale_total')).toBeGreaterThan(0);
    const failed = await db.query<{ n: string }>(`SELECT count(*)::text AS n FROM prestamos_cdc.failed_records`);
    expect(failed.rows[0]!.n).toBe('0');
  });
});
