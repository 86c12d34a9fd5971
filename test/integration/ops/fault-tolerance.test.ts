// Fault tolerance on real PostgreSQL and the mock broker, with capture and sync as real processes
// (`node cli/main.ts capture|sync`) under a live application workload:
//   - SIGTERM drains (finishes the part of the batch in progress, commits, confirms) and exits 0 within
//     a bound; readiness says so while it drains;
//   - SIGKILL of capture or sync at random moments loses nothing and counts nothing twice;
//   - a PostgreSQL restart under load is survived (reconnect with backoff), readiness 503 meanwhile;
//   - the broker unreachable for 60 s (SIGSTOP/SIGCONT): the capture backs off and holds, the slot
//     retains WAL (the metric rises), readiness is 503, then everything resumes with nothing lost.
// Each scenario ends with the new tables and the ledger exactly what the legacy rows imply.
import { portOutsideEphemeralRange } from '../../support/ports.ts';
import { afterAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import path from 'node:path';
import { rm } from 'node:fs/promises';
import { startEmbeddedServer, type EmbeddedServer } from '../../../connectors/postgres/embedded-server.ts';
import { runSqlFile, LEGACY_SCHEMA_FILE } from '../../../connectors/postgres/migrator.ts';
import { kafkaAvailable, startDedicatedKafka, type TestKafka } from '../../support/kafka-broker.ts';
import { startCli, metricValue, type CliProcess } from '../../support/cli-process.ts';
import { createTestDatabase, type TestDatabase } from '../../support/database.ts';
import { startMigrationFor, waitForCatchUp, expectConsistent, configFor, waitFor } from '../../support/pipeline.ts';
import { generateLegacyData, insertLegacyData } from '../../../services/testdata/generator.ts';
import { startLegacyWriter, type WriterOp } from '../../../services/testdata/legacy-writer.ts';

const cleanup: (() => Promise<void>)[] = [];
afterAll(async () => {
  for (const c of cleanup.reverse()) await c().catch(() => undefined);
});

// Light enough that no partition outgrows the mock broker's retention while the sync is held up.
const OPS: WriterOp[] = ['insertLoan', 'disburseLoan', 'changeStatus', 'changeTerms', 'insertPayment', 'paymentWithStatusChange', 'voidPayment', 'deletePayment', 'moveLoanToOtherJunta', 'insertAccion', 'updateAccion', 'insertMulta', 'payMulta'];

async function readyz(p: CliProcess): Promise<{ status: number; body: { checks: Record<string, { ok: boolean; detail: string }> } }> {
  const r = await fetch(`${p.url}/readyz`);
  return { status: r.status, body: (await r.json()) as { checks: Record<string, { ok: boolean; detail: string }> } };
}

interface Stage {
  db: TestDatabase;
  kafka: TestKafka;
  pool: pg.Pool;
  env: Record<string, string>;
  capture: CliProcess;
  sync: CliProcess;
}

async function stage(db: TestDatabase, kafka: TestKafka, extraEnv: Record<string, string> = {}): Promise<Stage> {
  const pool = new pg.Pool({ connectionString: db.url, max: 6 });
  pool.on('error', () => undefined);
  cleanup.push(() => pool.end());
  await insertLegacyData(pool, generateLegacyData({ seed: 31, juntas: 8, loansPerJunta: 30, largeNotesShare: 0 }));
  const prefix = `ft${Date.now()}`;
  const env = {
    DATABASE_URL: db.url,
    KAFKA_BROKERS: kafka.brokers.join(','),
    TOPIC_PREFIX: prefix,
    KAFKA_GROUP_ID: `g_${db.name}`,
    KAFKA_REPLICATION_FACTOR: '1',
    SLOT_NAME: `slot_${db.name}`,
    HEARTBEAT_INTERVAL_MS: '500',
    KAFKA_SESSION_TIMEOUT_MS: '10000',
    SHUTDOWN_TIMEOUT_MS: '15000',
    ...extraEnv,
  };
  const capture = await startCli(['capture'], env);
  const sync = await startCli(['sync'], env);
  cleanup.push(() => capture.stop(5000), () => sync.stop(5000));
  await startMigrationFor(db, configFor(db, { TOPIC_PREFIX: prefix }));
  await waitForCatchUp(db, 120_000);
  return { db, kafka, pool, env, capture, sync };
}

/** A database of its own and a broker of its own, with capture and sync caught up. */
async function freshStage(extraEnv: Record<string, string> = {}): Promise<Stage> {
  const db = await createTestDatabase('legacy');
  cleanup.push(() => db.drop());
  const kafka = await startDedicatedKafka();
  cleanup.push(() => kafka.stop());
  return stage(db, kafka, extraEnv);
}

async function restart(s: Stage, name: 'capture' | 'sync'): Promise<void> {
  const p = await startCli([name], s.env);
  cleanup.push(() => p.stop(5000));
  s[name] = p;
}

describe.skipIf(!kafkaAvailable())('fault tolerance', () => {
  it('SIGTERM drains capture and sync under load and exits 0 within the bound; restarted, nothing is lost', { timeout: 240_000 }, async () => {
    const s = await freshStage({ LOG_LEVEL: 'info' });
    const { db } = s;
    const writer = startLegacyWriter({ pool: s.pool, seed: 32, workers: 3, ratePerSecond: 150, ops: OPS });
    try {
      await new Promise((r) => setTimeout(r, 2000));
      for (const name of ['sync', 'capture'] as const) {
        const p = s[name];
        const t0 = Date.now();
        p.kill('SIGTERM');
        // readiness turns false at once while it drains (the HTTP server answers until the end)
        const r = await fetch(`${p.url}/readyz`).then((x) => x.status).catch(() => 'closed');
        expect([503, 'closed']).toContain(r);
        const exit = await p.exited;
        const ms = Date.now() - t0;
        expect(exit, `${name} exit`).toEqual({ code: 0, signal: null });
        expect(ms, `${name} drained in ${ms} ms`).toBeLessThan(15_000);
        expect(p.output()).toMatch(/draining/);
        await restart(s, name);
      }
      await new Promise((r) => setTimeout(r, 2000));
    } finally {
      await writer.stop();
    }
    expect(writer.stats.errors).toEqual([]);
    await waitForCatchUp(db, 120_000);
    await expectConsistent(db);
  });

  it('SIGKILL of capture or sync at random moments under load loses nothing and counts nothing twice', { timeout: 300_000 }, async () => {
    const s = await freshStage();
    const { db } = s;
    const writer = startLegacyWriter({ pool: s.pool, seed: 35, workers: 3, ratePerSecond: 150, ops: OPS });
    // a seeded sequence of victims and moments, so that a failure can be replayed
    let state = 0x5eed;
    const next = () => ((state = (state * 1103515245 + 12345) & 0x7fffffff), state / 0x7fffffff);
    try {
      for (let round = 0; round < 6; round++) {
        await new Promise((r) => setTimeout(r, 500 + Math.floor(next() * 2500)));
        const name = next() < 0.5 ? 'capture' : 'sync';
        s[name].kill('SIGKILL');
        expect((await s[name].exited).signal).toBe('SIGKILL');
        await restart(s, name);
      }
      await new Promise((r) => setTimeout(r, 2000));
    } finally {
      await writer.stop();
    }
    expect(writer.stats.errors).toEqual([]);
    await waitForCatchUp(db, 180_000);
    await expectConsistent(db);
  });

  it('survives a PostgreSQL restart under load: reconnects with backoff, readiness follows', { timeout: 300_000 }, async () => {
    // its own server, since this test restarts it
    // on a port below the ephemeral range: it is bound again after the restart (test/support/ports.ts)
    let server: EmbeddedServer = await startEmbeddedServer({ port: await portOutsideEphemeralRange() });
    const { dataDir, port } = server;
    cleanup.push(async () => {
      await server.stop();
      await rm(path.dirname(dataDir), { recursive: true, force: true });
    });
    await runSqlFile(server.url('postgres'), LEGACY_SCHEMA_FILE);
    const db: TestDatabase = {
      name: 'postgres',
      url: server.url('postgres'),
      query: async (sql, params) => {
        const c = new pg.Client({ connectionString: server.url('postgres') });
        await c.connect();
        try {
          return await c.query(sql, params as unknown[]);
        } finally {
          await c.end();
        }
      },
      drop: async () => undefined,
    };
    const kafka = await startDedicatedKafka();
    cleanup.push(() => kafka.stop());
    const s = await stage(db, kafka);
    const writer = startLegacyWriter({ pool: s.pool, seed: 33, workers: 2, ratePerSecond: 100, ops: OPS });
    await new Promise((r) => setTimeout(r, 2000));

    // restart: fast shutdown, 3 s down, start again on the same data and port
    const t0 = Date.now();
    await server.stop({ keepData: true });
    // a fast shutdown finishes promptly: the capture answers the walsender's last request exactly
    expect(Date.now() - t0).toBeLessThan(10_000);
    await waitFor('the capture to notice', async () => (await readyz(s.capture)).status === 503, 30_000);
    const down = await readyz(s.sync);
    expect(down.status).toBe(503);
    expect(down.body.checks.database?.ok).toBe(false);
    await new Promise((r) => setTimeout(r, 3000));
    server = await startEmbeddedServer({ dataDir, port });
    await waitFor('the capture to stream again', async () => (await readyz(s.capture)).status === 200, 90_000);
    await waitFor('the sync to be ready again', async () => (await readyz(s.sync)).status === 200, 90_000);

    await new Promise((r) => setTimeout(r, 3000));
    await writer.stop();
    // the application's own transactions failed while the server was down; nothing else may have
    const OUTAGE = new Set(['57P01', '57P02', '57P03', 'ECONNREFUSED', 'ECONNRESET']);
    const lostConnection = /Connection terminated|connection error|not queryable|ECONNREFUSED|ECONNRESET/i;
    expect(writer.stats.errors.filter((e) => !OUTAGE.has(e.code ?? '') && !lostConnection.test(e.message))).toEqual([]);
    expect(s.capture.hasExited()).toBe(false);
    expect(s.sync.hasExited()).toBe(false);
    await waitForCatchUp(db, 180_000);
    await expectConsistent(db);
  });

  it('holds while the broker is unreachable for 60 s, with the slot retaining WAL, then resumes with nothing lost', { timeout: 480_000 }, async () => {
    const s = await freshStage({ KAFKA_SESSION_TIMEOUT_MS: '30000' });
    const { db, kafka } = s;
    const writer = startLegacyWriter({ pool: s.pool, seed: 34, workers: 2, ratePerSecond: 60, ops: OPS });
    try {
      await waitFor('a first slot observation', async () => (await metricValue(s.capture.url, 'prestamos_cdc_replication_slot_active')) === 1, 30_000);
      const retainedBefore = await metricValue(s.capture.url, 'prestamos_cdc_replication_slot_unconfirmed_bytes');
      kafka.pause();
      const pausedAt = Date.now();
      const notReady = await waitFor('the capture to report the broker as unreachable', async () => {
        const r = await readyz(s.capture);
        return r.status === 503 ? r : false;
      }, 90_000);
      expect(notReady.body.checks.capture?.detail).toMatch(/publishing fails/);
      // while the broker is away the slot keeps the WAL the capture has not confirmed, and that grows
      const retainedDuring = await waitFor('the unconfirmed WAL to grow', async () => {
        const v = await metricValue(s.capture.url, 'prestamos_cdc_replication_slot_unconfirmed_bytes');
        return v > retainedBefore + 100_000 ? v : false;
      }, 90_000);
      expect(retainedDuring).toBeGreaterThan(retainedBefore);
      const left = 60_000 - (Date.now() - pausedAt);
      if (left > 0) await new Promise((r) => setTimeout(r, left));
      // by now the unanswered produce requests have timed out and been counted
      expect(await metricValue(s.capture.url, 'prestamos_cdc_capture_publish_failures_total')).toBeGreaterThan(0);
      expect((await readyz(s.capture)).status).toBe(503);
      kafka.resume();
      await waitFor('the capture to publish again', async () => (await readyz(s.capture)).status === 200, 180_000).catch(async (err: Error) => {
        const r = await readyz(s.capture).catch((e: Error) => ({ status: 0, body: e.message }));
        throw new Error(`${err.message}\n--- capture readiness ---\n${JSON.stringify(r)}\n--- capture ---\n${s.capture.output().slice(-8000)}`);
      });
      await new Promise((r) => setTimeout(r, 2000));
    } finally {
      kafka.resume();
      await writer.stop();
    }
    expect(writer.stats.errors).toEqual([]);
    expect(s.capture.hasExited()).toBe(false);
    await waitForCatchUp(db, 120_000).catch((err: Error) => {
      // the processes' last words say why
      throw new Error(`${err.message}\n--- sync ---\n${s.sync.output().slice(-6000)}\n--- capture ---\n${s.capture.output().slice(-3000)}`);
    });
    await expectConsistent(db);
    // and the slot lets the WAL go again: what it still holds unconfirmed falls back (the gauge is sampled
    // every 5 s, and the shared server's other databases keep writing WAL the slot confirms as it idles)
    await waitFor('the slot to confirm the WAL it retained', async () => (await metricValue(s.capture.url, 'prestamos_cdc_replication_slot_unconfirmed_bytes')) < 5_000_000, 60_000);
  });

  it('rides out the broker killed with SIGKILL and restarted on the same data directory, with nothing lost', { timeout: 360_000 }, async () => {
    const s = await freshStage({ KAFKA_SESSION_TIMEOUT_MS: '15000' });
    const { db, kafka } = s;
    const writer = startLegacyWriter({ pool: s.pool, seed: 35, workers: 2, ratePerSecond: 80, ops: OPS });
    try {
      await new Promise((r) => setTimeout(r, 3000));
      await kafka.kill();
      await waitFor('the capture to report the broker as unreachable', async () => (await readyz(s.capture)).status === 503, 90_000);
      await new Promise((r) => setTimeout(r, 5000));
      await kafka.restart();
      await waitFor('the capture to publish again', async () => (await readyz(s.capture)).status === 200, 180_000).catch(async (err: Error) => {
        const r = await readyz(s.capture).catch((e: Error) => ({ status: 0, body: e.message }));
        throw new Error(`${err.message}\n--- capture readiness ---\n${JSON.stringify(r)}\n--- capture ---\n${s.capture.output().slice(-8000)}`);
      });
      await new Promise((r) => setTimeout(r, 3000));
    } finally {
      await writer.stop();
    }
    expect(writer.stats.errors).toEqual([]);
    expect(s.capture.hasExited()).toBe(false);
    expect(s.sync.hasExited()).toBe(false);
    await waitForCatchUp(db, 180_000).catch((err: Error) => {
      throw new Error(`${err.message}\n--- sync ---\n${s.sync.output().slice(-6000)}\n--- capture ---\n${s.capture.output().slice(-3000)}`);
    });
    await expectConsistent(db);
  });

  it('stays exact while a second sync joins the group and leaves it again (two rebalances) under load', { timeout: 300_000 }, async () => {
    const s = await freshStage({ KAFKA_SESSION_TIMEOUT_MS: '10000' });
    const { db } = s;
    const writer = startLegacyWriter({ pool: s.pool, seed: 36, workers: 3, ratePerSecond: 120, ops: OPS });
    let second: CliProcess | undefined;
    try {
      await new Promise((r) => setTimeout(r, 2000));
      second = await startCli(['sync'], s.env);
      cleanup.push(() => second!.stop(5000));
      // the group gives the newcomer partitions: it applies some of the stream itself
      await waitFor('the second sync to apply changes', async () => (await metricValue(second!.url, 'prestamos_cdc_events_applied_total')) > 0, 90_000);
      await new Promise((r) => setTimeout(r, 3000));
      await second.stop(20_000);
      await new Promise((r) => setTimeout(r, 3000));
    } finally {
      await writer.stop();
    }
    expect(writer.stats.errors).toEqual([]);
    expect(s.sync.hasExited()).toBe(false);
    await waitForCatchUp(db, 180_000);
    await expectConsistent(db);
  });
});
