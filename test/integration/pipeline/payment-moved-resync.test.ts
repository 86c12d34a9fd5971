// A loan re-sync (single/:id) while one of its payments has moved to another loan and that move is not
// applied yet. The snapshot does not see the payment under the loan; that is not the same as the
// payment not existing. Whatever the order in which the snapshot and the move reach the new tables,
// the payment ends under its new loan, with its ledger worth in the new loan's junta.
//   in-process: no capture streams when single/:id runs; the move comes through the slot afterwards.
//   kafka:      the move is on one partition of the payments topic, the loan chunk's marker 0 on
//               partition 0, and the sync reads partition 0 first.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import { Partitioners } from 'kafkajs';
import { createTestDatabase, type TestDatabase } from '../../support/database.ts';
import { startTestKafka, type TestKafka } from '../../support/kafka-broker.ts';
import { startTestProcess, waitForCatchUp, expectConsistent, startMigrationFor, configFor, waitFor, testLogger } from '../../support/pipeline.ts';
import { generateLegacyData, insertLegacyData, type LegacyData } from '../../../services/testdata/generator.ts';
import { migrateSingleLoan } from '../../../services/reconciler/single-loan.ts';
import type { RunningProcess } from '../../../services/orchestrator/process-runner.ts';
import { createLoanWriter } from '../../../services/sync/loan-writer.ts';

const disbursed = ['DESEMBOLSADO', 'PAGADO', 'VENCIDO'];

/** A non-voided payment of a disbursed loan, and another disbursed loan of another junta to move it to. */
function pickMove(data: LegacyData, accept: (paymentId: string) => boolean) {
  for (const from of data.prestamos.filter((p) => disbursed.includes(p.estado))) {
    const payment = data.pagos.find((g) => g.prestamoId === from.id && !g.anulado && accept(g.id));
    const to = data.prestamos.find((p) => disbursed.includes(p.estado) && p.juntaId !== from.juntaId);
    if (payment && to) return { from: from.id, to: to.id, payment: payment.id };
  }
  throw new Error('no payment to move in the generated data');
}

async function expectPaymentUnder(db: TestDatabase, paymentId: string, loanId: string) {
  const r = await db.query<{ prestamo_id: string }>(`SELECT prestamo_id FROM "PagoPrestamoNew" WHERE id = $1`, [paymentId]);
  expect(r.rows[0]?.prestamo_id ?? 'missing from PagoPrestamoNew').toBe(loanId);
}

describe('loan re-sync while a payment moves to another loan', () => {
  let db: TestDatabase;
  let pool: pg.Pool;
  const procs: RunningProcess[] = [];
  const data = generateLegacyData({ seed: 57, juntas: 3, loansPerJunta: 8, largeNotesShare: 0 });
  beforeAll(async () => {
    db = await createTestDatabase('legacy');
    pool = new pg.Pool({ connectionString: db.url, max: 4 });
    await insertLegacyData(pool, data);
  });
  afterAll(async () => {
    for (const p of procs) await p.stop();
    await pool?.end();
    await db?.drop();
  });

  it('in-process (no capture streaming): the move applied later through the slot is kept', { timeout: 180_000 }, async () => {
    const move = pickMove(data, () => true);
    const config = configFor(db);
    const first = await startTestProcess(db, { config });
    await startMigrationFor(db, config);
    await waitForCatchUp(db);
    await first.stop();
    await expectPaymentUnder(db, move.payment, move.from);

    await pool.query(`UPDATE "PagoPrestamo" SET "prestamoId" = $2, "updatedAt" = now() WHERE id = $1`, [move.payment, move.to]);
    const result = await migrateSingleLoan({ pool, logger: testLogger(), loans: createLoanWriter({ pool, logger: testLogger() }) }, move.from, 'test', 1000);
    expect(result.mode).toBe('in-process');

    procs.push(await startTestProcess(db, { config }));
    await waitForCatchUp(db);
    await expectPaymentUnder(db, move.payment, move.to);
    await expectConsistent(db);
  });
});

describe('loan re-sync while a payment moves to another loan (kafka, several partitions)', () => {
  let db: TestDatabase;
  let kafka: TestKafka;
  let pool: pg.Pool;
  const procs: RunningProcess[] = [];
  const data = generateLegacyData({ seed: 58, juntas: 3, loansPerJunta: 8, largeNotesShare: 0 });
  beforeAll(async () => {
    db = await createTestDatabase('legacy');
    kafka = await startTestKafka();
    pool = new pg.Pool({ connectionString: db.url, max: 4 });
    await insertLegacyData(pool, data);
  });
  afterAll(async () => {
    for (const p of procs) await p.stop();
    await pool?.end();
    await kafka?.stop();
    await db?.drop();
  });

  it('the loan chunk\'s marker applied before the move on another partition does not delete the payment', { timeout: 240_000 }, async () => {
    const config = configFor(db, { KAFKA_BROKERS: kafka.brokers.join(','), TOPIC_PREFIX: `mv${Date.now()}` });
    const capture = await startTestProcess(db, { config, mode: 'kafka', capture: true, sync: false });
    procs.push(capture);
    const sync = await startTestProcess(db, { config, mode: 'kafka', capture: false, sync: true, api: false });
    await startMigrationFor(db, config);
    await waitForCatchUp(db);
    await sync.stop();

    // the payment's partition (kafkajs' default partitioner, as the capture's producer uses) is not 0
    const topic = `${config.topicPrefix}.public.PagoPrestamo`;
    const admin = (await import('kafkajs')).Kafka;
    const client = new admin({ brokers: kafka.brokers, logLevel: 0 });
    const meta = await (async () => {
      const a = client.admin();
      await a.connect();
      try {
        return (await a.fetchTopicMetadata({ topics: [topic] })).topics[0]!.partitions;
      } finally {
        await a.disconnect();
      }
    })();
    expect(meta.length).toBeGreaterThanOrEqual(3);
    const partitioner = Partitioners.DefaultPartitioner();
    const partitionOf = (id: string) => partitioner({ topic, partitionMetadata: meta, message: { key: JSON.stringify({ id }), value: null } });
    const move = pickMove(data, (id) => partitionOf(id) !== 0);
    await expectPaymentUnder(db, move.payment, move.from);

    // Earlier changes of the payment, each its own produce request: the mock broker returns one produce
    // request's records per partition per fetch, so the payment's partition reaches the move several
    // fetches after partition 0 reaches the chunk's marker 0.
    for (let i = 0; i < 6; i++) {
      await pool.query(`UPDATE "PagoPrestamo" SET "updatedAt" = now() WHERE id = $1`, [move.payment]);
      await new Promise((r) => setTimeout(r, 300));
    }
    await pool.query(`UPDATE "PagoPrestamo" SET "prestamoId" = $2, "updatedAt" = now() WHERE id = $1`, [move.payment, move.to]);
    const pending = await migrateSingleLoan({ pool, logger: testLogger(), pipeline: capture.pipeline, loans: createLoanWriter({ pool, logger: testLogger() }) }, move.from, 'test', 0);
    expect(pending.mode).toBe('snapshot request');
    await waitFor('the loan chunk to be emitted', async () => {
      const r = await db.query<{ status: string }>(`SELECT status FROM prestamos_cdc.snapshot_requests WHERE id = $1`, [pending.requestId]);
      return r.rows[0]?.status === 'emitted';
    });

    procs.push(await startTestProcess(db, { config, mode: 'kafka', capture: false, sync: true, api: false }));
    await waitForCatchUp(db);
    await expectPaymentUnder(db, move.payment, move.to);
    await expectConsistent(db);
  });
});
