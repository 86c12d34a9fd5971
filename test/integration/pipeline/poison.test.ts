// Messages that cannot be applied: a legacy row that fails validation (an unknown loan state) and one
// the database refuses (a share worth more than the ledger's numeric(14,2) can hold) go to the
// dead-letter topic and the failed-records table, and the rest of the stream keeps flowing. Above a 1 %
// error rate over the window, the apply pauses and says so (shared control row, metric, readiness);
// after a resume it carries on with nothing lost.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import { Kafka, logLevel } from 'kafkajs';
import { createTestDatabase, type TestDatabase } from '../../support/database.ts';
import { kafkaAvailable, startTestKafka, type TestKafka } from '../../support/kafka-broker.ts';
import { startTestProcess, startMigrationFor, waitForCatchUp, configFor, waitFor } from '../../support/pipeline.ts';
import { metricValue } from '../../support/cli-process.ts';
import { generateLegacyData, insertLegacyData } from '../../../services/testdata/generator.ts';
import { setPaused } from '../../../services/runtime/control-plane.ts';
import type { RunningProcess } from '../../../services/orchestrator/process-runner.ts';

let db: TestDatabase;
let kafka: TestKafka;
let pool: pg.Pool;
let proc: RunningProcess | undefined;
const prefix = `poison${Date.now()}`;

beforeAll(async () => {
  db = await createTestDatabase('legacy');
  kafka = await startTestKafka();
  pool = new pg.Pool({ connectionString: db.url, max: 4 });
  await insertLegacyData(pool, generateLegacyData({ seed: 9, juntas: 5, loansPerJunta: 20 }));
  const config = configFor(db, {
    KAFKA_BROKERS: kafka.brokers.join(','),
    TOPIC_PREFIX: prefix,
    ERROR_RATE_THRESHOLD: '0.01',
    ERROR_RATE_WINDOW_SECONDS: '600',
    ERROR_RATE_MIN_EVENTS: '50',
  });
  proc = await startTestProcess(db, { config, mode: 'kafka' });
  await startMigrationFor(db, config);
  await waitForCatchUp(db);
});
afterAll(async () => {
  await proc?.stop();
  await pool?.end();
  await kafka?.stop();
  await db?.drop();
});

const insertLoan = (id: string, estado: string) =>
  pool.query(
    `INSERT INTO "Prestamo" (id, "juntaId", "miembroId", monto, "tasaInteres", cuotas, estado, "createdAt", "updatedAt")
     SELECT $1, id, 'm', 100, 0.01, 3, $2, now(), now() FROM "Junta" ORDER BY id LIMIT 1`,
    [id, estado],
  );

async function deadLetters(): Promise<{ key: string | null; headers: Record<string, string> }[]> {
  const client = new Kafka({ clientId: 'dlq-reader', brokers: kafka.brokers, logLevel: logLevel.NOTHING });
  const consumer = client.consumer({ groupId: `dlq-${Date.now()}` });
  const out: { key: string | null; headers: Record<string, string> }[] = [];
  await consumer.connect();
  await consumer.subscribe({ topic: `${prefix}.prestamos_cdc.dlq`, fromBeginning: true });
  await consumer.run({
    eachMessage: async ({ message }) => {
      out.push({ key: message.key?.toString() ?? null, headers: Object.fromEntries(Object.entries(message.headers ?? {}).map(([k, v]) => [k, String(v)])) });
    },
  });
  await new Promise((r) => setTimeout(r, 4000));
  await consumer.disconnect();
  return out;
}

describe.skipIf(!kafkaAvailable())('poison messages', () => {
  it('go to the dead-letter topic and the failed records, and the stream keeps flowing', async () => {
    await insertLoan('poison-state', 'BOGUS');
    // valid on its own, but its worth (2^31 − 1 shares × 9,999,999,999.99) does not fit the ledger
    await pool.query(
      `INSERT INTO "Accion" (id, "juntaId", "miembroId", cantidad, "valorUnitario", fecha) SELECT 'poison-worth', id, 'm', 2147483647, 9999999999.99, now() FROM "Junta" ORDER BY id LIMIT 1`,
    );
    await insertLoan('after-poison', 'APROBADO');
    await waitForCatchUp(db);

    const failed = await db.query<{ source_table: string; row_id: string; error: string; error_code: string; topic: string; payload: Buffer }>(
      `SELECT source_table, row_id, error, error_code, topic, payload FROM prestamos_cdc.failed_records ORDER BY row_id`,
    );
    expect(failed.rows.map((r) => [r.source_table, r.row_id, r.error_code])).toEqual([
      ['Prestamo', 'poison-state', 'invalid_row'],
      ['Accion', 'poison-worth', 'sqlstate_22003'],
    ]);
    expect(failed.rows[0]!.error).toMatch(/estado.*BOGUS/);
    expect(failed.rows[0]!.topic).toBe(`${prefix}.public.Prestamo`);
    expect(JSON.parse(failed.rows[0]!.payload.toString()).after.estado).toBe('BOGUS'); // the message as received

    const dlq = await deadLetters();
    expect(dlq.map((m) => [m.key, m.headers['prestamos-cdc-error-code']]).sort()).toEqual([
      ['{"id":"poison-state"}', 'invalid_row'],
      ['{"id":"poison-worth"}', 'sqlstate_22003'],
    ]);
    expect(dlq.find((m) => m.key === '{"id":"poison-state"}')!.headers['prestamos-cdc-origin-topic']).toBe(`${prefix}.public.Prestamo`);

    // the stream flowed on: the loan after the poison is there, the poison rows are not
    const loans = await db.query<{ id: string }>(`SELECT id FROM "PrestamoNew" WHERE id IN ('after-poison', 'poison-state')`);
    expect(loans.rows.map((r) => r.id)).toEqual(['after-poison']);
    expect(await metricValue(proc!.url, 'prestamos_cdc_dead_letter_total')).toBe(2);
    expect(await metricValue(proc!.url, 'prestamos_cdc_apply_errors_total', { reason: 'invalid_row' })).toBe(1);
    // one bad message among hundreds is under 1 %: not paused
    expect((await db.query(`SELECT paused FROM prestamos_cdc.control`)).rows[0]).toEqual({ paused: false });
  });

  it('pauses the apply above a 1 % error rate, says so, and resumes with nothing lost', async () => {
    for (let i = 0; i < 12; i++) await insertLoan(`bogus-${i}`, 'NO-SUCH-STATE');
    const control = await waitFor('the apply to pause', async () => {
      const r = await db.query<{ paused: boolean; reason: string }>(`SELECT paused, reason FROM prestamos_cdc.control`);
      return r.rows[0]!.paused ? r.rows[0]! : false;
    });
    expect(control.reason).toMatch(/error rate .* is above 1\.00 %/);
    expect(await metricValue(proc!.url, 'prestamos_cdc_paused')).toBe(1);
    const ready = (await (await fetch(`${proc!.url}/readyz`)).json()) as { checks: Record<string, { detail: string }> };
    expect(ready.checks.sync?.detail).toMatch(/^paused: error rate/);

    // while paused nothing is applied
    await insertLoan('while-paused', 'APROBADO');
    await new Promise((r) => setTimeout(r, 3000));
    expect((await db.query(`SELECT 1 FROM "PrestamoNew" WHERE id = 'while-paused'`)).rowCount).toBe(0);

    await setPaused(pool, false, null, 'test operator');
    await waitFor('the change made while paused to be applied', async () => (await db.query(`SELECT 1 FROM "PrestamoNew" WHERE id = 'while-paused'`)).rowCount === 1);
    expect(await metricValue(proc!.url, 'prestamos_cdc_paused')).toBe(0);
    // the pause stopped at the message that crossed the threshold: the bogus loans after it (on any
    // partition) are taken up after the resume, each recorded once
    await waitFor('every bogus loan in the failed records', async () => {
      const bogus = await db.query<{ n: string }>(`SELECT count(*)::text AS n FROM prestamos_cdc.failed_records WHERE row_id LIKE 'bogus-%'`);
      return bogus.rows[0]!.n === '12';
    });
    const distinct = await db.query<{ n: string }>(`SELECT count(DISTINCT row_id)::text AS n FROM prestamos_cdc.failed_records WHERE row_id LIKE 'bogus-%'`);
    expect(distinct.rows[0]!.n).toBe('12');
  });
});
