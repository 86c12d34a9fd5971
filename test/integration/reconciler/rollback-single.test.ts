// Single-loan rollback and re-migration through Kafka (the mock broker), with the capture in one
// process and the sync plus the API in another: rollback removes the loan and its payments from the
// new tables and reverses their ledger worth (append-only); later legacy changes of the loan leave the
// new tables empty; single/:id migrates it again through a loan snapshot request and answers exact.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import { createTestDatabase, type TestDatabase } from '../../support/database.ts';
import { kafkaAvailable, startTestKafka, type TestKafka } from '../../support/kafka-broker.ts';
import { startTestProcess, waitForCatchUp, expectConsistent, configFor } from '../../support/pipeline.ts';
import { call, makeTokens, type Tokens } from '../../support/http.ts';
import { generateLegacyData, insertLegacyData } from '../../../services/testdata/generator.ts';
import type { RunningProcess } from '../../../services/orchestrator/process-runner.ts';

let db: TestDatabase;
let kafka: TestKafka;
let pool: pg.Pool;
let tokens: Tokens;
const procs: RunningProcess[] = [];
let apiUrl = '';

const data = generateLegacyData({ seed: 31, juntas: 6, loansPerJunta: 20 });
const disbursed = ['DESEMBOLSADO', 'PAGADO', 'VENCIDO'];
const loan = data.prestamos.find((p) => disbursed.includes(p.estado) && data.pagos.filter((g) => g.prestamoId === p.id && !g.anulado).length >= 2)!;

const api = (method: string, path: string, o: Parameters<typeof call>[3] = {}) => call(apiUrl, method, path, o);

async function ledgerWorth(type: 'PRESTAMO' | 'PAGO', ids: string[]): Promise<string> {
  const col = type === 'PRESTAMO' ? 'prestamo_id' : 'pago_id';
  const r = await db.query<{ w: string }>(
    `SELECT coalesce(sum(CASE direction WHEN 'IN' THEN amount ELSE -amount END), 0)::numeric(14,2)::text AS w
       FROM capital_movements WHERE type = $1 AND ${col} = ANY($2::text[])`,
    [type, ids],
  );
  return r.rows[0]!.w;
}

beforeAll(async () => {
  db = await createTestDatabase('migrated');
  kafka = await startTestKafka();
  pool = new pg.Pool({ connectionString: db.url, max: 4 });
  await insertLegacyData(pool, data);
  tokens = await makeTokens(db);
  const config = configFor(db, { KAFKA_BROKERS: kafka.brokers.join(','), TOPIC_PREFIX: `rb${Date.now()}` });
  procs.push(await startTestProcess(db, { config, mode: 'kafka', capture: true, sync: false, api: false }));
  const syncAndApi = await startTestProcess(db, { config, mode: 'kafka', capture: false, sync: true });
  procs.push(syncAndApi);
  apiUrl = syncAndApi.url;
});
afterAll(async () => {
  for (const p of procs) await p.stop();
  await pool?.end();
  await kafka?.stop();
  await db?.drop();
});

describe.skipIf(!kafkaAvailable())('rollback and single-loan migration (kafka)', () => {
  it('rolls a loan back, keeps it out while the legacy loan changes, and migrates it again exactly', async () => {
    expect(loan).toBeDefined();
    const start = await api('POST', '/prestamos/migration/start', { token: tokens.admin });
    expect(start.status).toBe(202);
    await waitForCatchUp(db);
    await expectConsistent(db);

    const payments = (await db.query<{ id: string }>(`SELECT id FROM "PagoPrestamoNew" WHERE prestamo_id = $1 ORDER BY id`, [loan.id])).rows.map((r) => r.id);
    const nonVoided = data.pagos.filter((g) => g.prestamoId === loan.id && !g.anulado);
    expect(payments).toEqual(data.pagos.filter((g) => g.prestamoId === loan.id).map((g) => g.id).sort());
    expect(await ledgerWorth('PRESTAMO', [loan.id])).toBe(`-${loan.monto}`);
    const movementsBefore = Number((await db.query(`SELECT count(*) AS n FROM capital_movements`)).rows[0]!.n);

    // -- rollback
    const rb = await api('POST', `/prestamos/migration/rollback/${encodeURIComponent(loan.id)}`, { token: tokens.operator, json: { reason: 'test' } });
    expect(rb.status).toBe(200);
    expect(rb.body).toMatchObject({ prestamoId: loan.id, status: 'rolled back', removed: { loan: true, payments } });
    expect(rb.body.rolledBackBy).toMatch(/^test-operator#\d+$/);
    expect(rb.body.ledgerReversals).toContainEqual({ juntaId: loan.juntaId, type: 'PRESTAMO', rowId: loan.id, direction: 'IN', amount: loan.monto });
    for (const p of nonVoided) expect(rb.body.ledgerReversals).toContainEqual({ juntaId: loan.juntaId, type: 'PAGO', rowId: p.id, direction: 'OUT', amount: p.monto });
    expect(rb.body.ledgerReversals).toHaveLength(1 + nonVoided.length);
    expect((await db.query(`SELECT 1 FROM "PrestamoNew" WHERE id = $1`, [loan.id])).rowCount).toBe(0);
    expect((await db.query(`SELECT 1 FROM "PagoPrestamoNew" WHERE prestamo_id = $1`, [loan.id])).rowCount).toBe(0);
    expect((await db.query(`SELECT rolled_back_by FROM prestamos_cdc.rolled_back_loans WHERE prestamo_id = $1`, [loan.id])).rows[0]?.rolled_back_by).toBe(rb.body.rolledBackBy);
    expect(await ledgerWorth('PRESTAMO', [loan.id])).toBe('0.00');
    expect(await ledgerWorth('PAGO', payments)).toBe('0.00');
    // append-only: the reversals are new rows, nothing was removed
    expect(Number((await db.query(`SELECT count(*) AS n FROM capital_movements`)).rows[0]!.n)).toBe(movementsBefore + 1 + nonVoided.length);
    await expectConsistent(db); // rolled-back loans are expected to be absent

    const again = await api('POST', `/prestamos/migration/rollback/${encodeURIComponent(loan.id)}`, { token: tokens.operator });
    expect(again.status).toBe(200);
    expect(again.body).toMatchObject({ status: 'already rolled back', ledgerReversals: [] });

    // -- the application keeps changing the loan: the stream leaves it alone
    await db.query(`UPDATE "Prestamo" SET monto = monto + 10, "updatedAt" = now() WHERE id = $1`, [loan.id]);
    await db.query(
      `INSERT INTO "PagoPrestamo" (id, "prestamoId", monto, fecha, anulado, "createdAt", "updatedAt") VALUES ('rb-new-payment', $1, 123.45, now(), false, now(), now())`,
      [loan.id],
    );
    await db.query(`UPDATE "PagoPrestamo" SET monto = monto + 1, "updatedAt" = now() WHERE id = $1`, [nonVoided[0]!.id]);
    await waitForCatchUp(db);
    expect((await db.query(`SELECT 1 FROM "PrestamoNew" WHERE id = $1`, [loan.id])).rowCount).toBe(0);
    expect((await db.query(`SELECT 1 FROM "PagoPrestamoNew" WHERE prestamo_id = $1 OR id = 'rb-new-payment'`, [loan.id])).rowCount).toBe(0);
    expect(await ledgerWorth('PRESTAMO', [loan.id])).toBe('0.00');
    expect(await ledgerWorth('PAGO', [...payments, 'rb-new-payment'])).toBe('0.00');
    await expectConsistent(db);
    const verify = await api('GET', '/prestamos/migration/verify', { token: tokens.viewer });
    expect(verify.body.ok).toBe(true);
    expect(verify.body.counts.rolledBackLoans).toBe(1);
    const progress = await api('GET', '/prestamos/migration/progress', { token: tokens.viewer });
    expect(progress.body.rolledBackLoans).toBe(1);
    expect(progress.body.tables.find((t: { table: string }) => t.table === 'Prestamo')).toMatchObject({ rolledBack: 1, remaining: 0 });

    // -- migrate it again: through a loan snapshot request (the capture streams in the other process)
    const single = await api('POST', `/prestamos/migration/single/${encodeURIComponent(loan.id)}`, { token: tokens.operator });
    expect(single.status).toBe(200);
    expect(single.body.mode).toBe('snapshot request');
    expect(single.body.requestId).toMatch(/^\d+$/);
    const c = single.body.comparison;
    expect(c.exact).toBe(true);
    expect(c.rolledBack).toBeNull();
    const principal = c.loan.fields.find((f: { field: string }) => f.field === 'principal');
    const plusTen = (BigInt(loan.monto.replace('.', '')) + 1000n).toString();
    expect(principal.new).toBe(`${plusTen.slice(0, -2)}.${plusTen.slice(-2)}`);
    expect(c.payments.map((p: { id: string }) => p.id)).toContain('rb-new-payment');
    expect(c.payments.every((p: { matches: boolean }) => p.matches)).toBe(true);
    expect(c.ledger.every((l: { matches: boolean }) => l.matches)).toBe(true);
    expect(await ledgerWorth('PRESTAMO', [loan.id])).toBe(principal.new.startsWith('-') ? principal.new : `-${principal.new}`);
    expect((await db.query(`SELECT 1 FROM prestamos_cdc.rolled_back_loans`)).rowCount).toBe(0);
    await expectConsistent(db);

    // -- and the stream applies its changes again
    await db.query(`UPDATE "Prestamo" SET cuotas = cuotas + 1, "updatedAt" = now() WHERE id = $1`, [loan.id]);
    await waitForCatchUp(db);
    const after = await api('GET', `/prestamos/migration/loan/${encodeURIComponent(loan.id)}`, { token: tokens.viewer });
    expect(after.status).toBe(200);
    expect(after.body.exact).toBe(true);
    expect(after.body.loan.fields.find((f: { field: string }) => f.field === 'installments').new).toBe(String(loan.cuotas + 1));
    await expectConsistent(db);
  });

  it('answers 404 for a loan it does not know', async () => {
    for (const path of ['/prestamos/migration/rollback/no-such-loan', '/prestamos/migration/single/no-such-loan']) {
      const r = await api('POST', path, { token: tokens.operator });
      expect(r.status).toBe(404);
      expect(r.body.error).toMatch(/no loan "no-such-loan"/);
    }
    expect((await api('GET', '/prestamos/migration/loan/no-such-loan', { token: tokens.viewer })).status).toBe(404);
  });
});
