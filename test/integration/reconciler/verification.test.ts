// Verification and consistency against the real inline pipeline: single-loan migration before the
// migration starts (in-process), verify and consistency on an exact migration, deliberately corrupted
// shadow rows and capital figures found and named, missing and extra ids found, rows in flight told
// apart from mismatches, progress and metrics.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import { createTestDatabase, type TestDatabase } from '../../support/database.ts';
import { startTestProcess, waitForCatchUp, expectConsistent, waitFor } from '../../support/pipeline.ts';
import { call, makeTokens, type Tokens } from '../../support/http.ts';
import { generateLegacyData, insertLegacyData } from '../../../services/testdata/generator.ts';
import type { RunningProcess } from '../../../services/orchestrator/process-runner.ts';

let db: TestDatabase;
let pool: pg.Pool;
let proc: RunningProcess | undefined;
let tokens: Tokens;
const data = generateLegacyData({ seed: 21, juntas: 8, loansPerJunta: 20 });
// a disbursed loan with at least two payments
const loanWithPayments = data.prestamos.find((p) => data.pagos.filter((g) => g.prestamoId === p.id).length >= 2)!;

const api = (method: string, path: string, o: Parameters<typeof call>[3] = {}) => call(proc!.url, method, path, o);

beforeAll(async () => {
  db = await createTestDatabase('migrated');
  pool = new pg.Pool({ connectionString: db.url, max: 6 });
  await insertLegacyData(pool, data);
  tokens = await makeTokens(db);
  proc = await startTestProcess(db);
});
afterAll(async () => {
  await proc?.stop();
  await pool?.end();
  await db?.drop();
});

describe('reconciler verification', () => {
  it('migrates one loan in-process before the migration starts, and answers field by field', async () => {
    const progress = await api('GET', '/prestamos/migration/progress', { token: tokens.viewer });
    expect(progress.status).toBe(200);
    expect(progress.body.phase).toBe('not started');

    const r = await api('POST', `/prestamos/migration/single/${encodeURIComponent(loanWithPayments.id)}`, { token: tokens.operator });
    expect(r.status).toBe(200);
    expect(r.body.mode).toBe('in-process');
    expect(r.body.status).toBe('applied');
    const c = r.body.comparison;
    expect(c.exact).toBe(true);
    expect(c.inLegacy).toBe(true);
    expect(c.inNew).toBe(true);
    expect(c.loan.fields.map((f: { field: string }) => f.field)).toContain('interest_paid');
    const principal = c.loan.fields.find((f: { field: string }) => f.field === 'principal');
    expect(principal).toMatchObject({ legacyColumn: 'monto', legacy: loanWithPayments.monto, expected: loanWithPayments.monto, new: loanWithPayments.monto, matches: true });
    expect(c.payments.length).toBe(data.pagos.filter((g) => g.prestamoId === loanWithPayments.id).length);
    expect(c.payments.every((p: { matches: boolean; inNew: boolean }) => p.matches && p.inNew)).toBe(true);
    // the loan's ledger: its PRESTAMO worth and one PAGO per non-voided payment
    const nonVoided = data.pagos.filter((g) => g.prestamoId === loanWithPayments.id && !g.anulado).length;
    expect(c.ledger.filter((l: { type: string }) => l.type === 'PAGO').length).toBe(nonVoided);
    expect(c.ledger.find((l: { type: string }) => l.type === 'PRESTAMO')).toMatchObject({ expectedWorth: `-${loanWithPayments.monto}`, ledgerWorth: `-${loanWithPayments.monto}`, matches: true });
    const shadow = await db.query(`SELECT count(*)::int AS n FROM "PagoPrestamoNew" WHERE prestamo_id = $1`, [loanWithPayments.id]);
    expect(shadow.rows[0]!.n).toBe(c.payments.length);
  });

  it('after start and catch-up, verify and consistency report an exact migration', async () => {
    const start = await api('POST', '/prestamos/migration/start', { token: tokens.admin });
    expect(start.status).toBe(202);
    await waitForCatchUp(db);
    await expectConsistent(db);

    const v = await api('GET', '/prestamos/migration/verify', { token: tokens.viewer });
    expect(v.status).toBe(200);
    expect(v.body.problems).toEqual([]);
    expect(v.body.ok).toBe(true);
    expect(v.body.objects.every((o: { present: boolean }) => o.present)).toBe(true);
    expect(v.body.counts.legacy.Prestamo).toBe(data.prestamos.length);
    expect(v.body.counts.new.PrestamoNew).toBe(data.prestamos.length);
    expect(v.body.counts.new.PagoPrestamoNew).toBe(data.pagos.length);
    expect(v.body.slot.exists).toBe(true);
    expect(v.body.lag.syncsRunning).toBe(1);
    expect(v.body.lag.seconds).toBeGreaterThanOrEqual(0);
    expect(v.body.missing.loans.count + v.body.extra.loans.count + v.body.missing.payments.count + v.body.extra.payments.count).toBe(0);

    const c = await api('GET', '/prestamos/migration/consistency?fresh=true', { token: tokens.viewer });
    expect(c.status).toBe(200);
    expect(c.body.consistent).toBe(true);
    expect(c.body.dataMatching.percent).toBe(100);
    expect(c.body.dataMatching.total).toBe(data.prestamos.length + data.pagos.length);
    expect(c.body.paymentTotals.percent).toBe(100);
    expect(c.body.paymentTotals.expected.totalPaid).toBe(c.body.paymentTotals.new.totalPaid);
    expect(c.body.statusConsistency.percent).toBe(100);
    expect(c.body.capital.discrepancies).toBe(0);
    expect(c.body.capital.juntas).toBe(data.juntas.length);
    expect(c.body.ledger.mismatched).toBe(0);
    expect(c.body.relationships.orphanPayments.count).toBe(0);
    expect(c.body.mismatches).toEqual({ loans: [], payments: [] });

    const p = await api('GET', '/prestamos/migration/progress', { token: tokens.viewer });
    expect(p.status).toBe(200);
    expect(p.body.phase).toBe('streaming');
    expect(p.body.tables.find((t: { table: string }) => t.table === 'Prestamo')).toMatchObject({ total: data.prestamos.length, migrated: data.prestamos.length, remaining: 0, failed: 0 });
    expect(p.body.totals.remaining).toBe(0);
    expect(p.body.etaSeconds).toBe(0);
    expect(p.body.lag.syncsRunning).toBe(1);
    expect(typeof p.body.lag.seconds).toBe('number');
    expect(p.body.paused.paused).toBe(false);

    const m = await api('GET', '/prestamos/migration/metrics', { token: tokens.viewer });
    expect(m.status).toBe(200);
    expect(m.body.speed.changesApplied).toBeGreaterThan(0);
    expect(m.body.resources.process.rssBytes).toBeGreaterThan(0);
    expect(m.body.resources.database.sizeBytes).toBeGreaterThan(0);
    expect(m.body.slot.exists).toBe(true);

    const prom = await call(proc!.url, 'GET', '/metrics');
    expect(prom.status).toBe(200);
    expect(prom.text).toMatch(/prestamos_cdc_consistency_ratio\{check="loans"\} 1/);
    expect(prom.text).toMatch(/prestamos_cdc_juntas_capital_discrepancy 0/);
  });

  it('consistency finds a corrupted shadow row and a wrong capital figure, and names them', async () => {
    const loan = data.prestamos[3]!;
    const junta = data.juntas[2]!;
    await db.query(`UPDATE "PrestamoNew" SET principal = principal + 1, notes = 'tampered' WHERE id = $1`, [loan.id]);
    await db.query(`UPDATE "Junta" SET available_capital = available_capital + 7.5 WHERE id = $1`, [junta.id]);
    try {
      const c = await api('GET', '/prestamos/migration/consistency?fresh=true', { token: tokens.viewer });
      expect(c.status).toBe(200);
      expect(c.body.consistent).toBe(false);
      expect(c.body.dataMatching.loans.mismatched).toBe(1);
      expect(c.body.dataMatching.loans.percent).toBeLessThan(100);
      expect(c.body.inFlight.total).toBe(0);
      const m = c.body.mismatches.loans.find((x: { id: string }) => x.id === loan.id);
      expect(m.problem).toBe('differs');
      const principal = m.fields.find((f: { field: string }) => f.field === 'principal');
      const plusOne = (BigInt(loan.monto.replace('.', '')) + 100n).toString();
      expect(principal).toEqual({ field: 'principal', legacyColumn: 'monto', legacy: loan.monto, expected: loan.monto, new: `${plusOne.slice(0, -2)}.${plusOne.slice(-2)}` });
      expect(m.fields.find((f: { field: string }) => f.field === 'notes')).toMatchObject({ legacyColumn: 'observaciones', new: 'tampered' });
      expect(m.fields.map((f: { field: string }) => f.field).sort()).toEqual(['notes', 'principal', ...(['DESEMBOLSADO', 'PAGADO', 'VENCIDO'].includes(loan.estado) ? ['outstanding_principal'] : [])].sort());

      const cap = c.body.capital.first.find((x: { juntaId: string }) => x.juntaId === junta.id);
      expect(cap).toBeDefined();
      expect(cap.availableDiffers).toBe(true);
      expect(cap.crossCheckBreaks).toBe(true);
      expect(cap.currentDiffers).toBe(false);
      // stored figure against calculate_available_capital()
      const calc = await db.query<{ v: string }>(`SELECT calculate_available_capital($1)::text AS v`, [junta.id]);
      expect(cap.calculatedAvailable).toBe(calc.rows[0]!.v);
      expect(Number(cap.availableCapital) - Number(cap.calculatedAvailable)).toBeCloseTo(7.5, 6);
      // the corrupted loan's junta: its cross-check breaks too (the loan's outstanding changed), when disbursed
      expect(c.body.capital.discrepancies).toBeGreaterThanOrEqual(1);

      const one = await api('GET', `/prestamos/migration/loan/${encodeURIComponent(loan.id)}`, { token: tokens.viewer });
      expect(one.status).toBe(200);
      expect(one.body.exact).toBe(false);
      expect(one.body.loan.fields.find((f: { field: string }) => f.field === 'principal').matches).toBe(false);
    } finally {
      await db.query(`UPDATE "Junta" SET available_capital = available_capital - 7.5 WHERE id = $1`, [junta.id]);
    }
    // single/:id repairs the loan (the snapshot read is newer than what the shadow row holds)
    const fix = await api('POST', `/prestamos/migration/single/${encodeURIComponent(loan.id)}`, { token: tokens.operator });
    expect(fix.status).toBe(200);
    expect(fix.body.mode).toBe('snapshot request');
    expect(fix.body.comparison.exact).toBe(true);
    const after = await api('GET', '/prestamos/migration/consistency?fresh=true', { token: tokens.viewer });
    expect(after.body.consistent).toBe(true);
  });

  it('verify finds a missing and an extra id', async () => {
    const gone = data.prestamos[5]!;
    const gonePayment = data.pagos[0]!;
    await db.query(`DELETE FROM "PrestamoNew" WHERE id = $1`, [gone.id]);
    await db.query(`DELETE FROM "PagoPrestamoNew" WHERE id = $1`, [gonePayment.id]);
    await db.query(
      `INSERT INTO "PrestamoNew" (id, junta_id, member_id, principal, monthly_interest_rate, installments, status, created_at, updated_at, source_lsn)
       VALUES ('ghost-loan-1', $1, 'm', 10, 0, 1, 'pending', now(), now(), pg_current_wal_lsn())`,
      [data.juntas[0]!.id],
    );
    const v = await api('GET', '/prestamos/migration/verify', { token: tokens.viewer });
    expect(v.status).toBe(200);
    expect(v.body.ok).toBe(false);
    expect(v.body.missing.loans).toMatchObject({ count: 1, ids: [gone.id], inFlight: 0 });
    expect(v.body.missing.payments).toMatchObject({ count: 1, ids: [gonePayment.id], inFlight: 0 });
    expect(v.body.extra.loans).toMatchObject({ count: 1, ids: ['ghost-loan-1'], inFlight: 0 });
    expect(v.body.problems.join(' ')).toMatch(/1 loans missing/);

    const c = await api('GET', '/prestamos/migration/consistency?fresh=true', { token: tokens.viewer });
    const problems = Object.fromEntries(c.body.mismatches.loans.map((x: { id: string; problem: string }) => [x.id, x.problem]));
    expect(problems).toMatchObject({ [gone.id]: 'missing', 'ghost-loan-1': 'extra' });
    expect(c.body.mismatches.payments.map((x: { id: string }) => x.id)).toContain(gonePayment.id);

    // repair: migrate the two loans again, remove the ghost
    await db.query(`DELETE FROM "PrestamoNew" WHERE id = 'ghost-loan-1'`);
    for (const id of [gone.id, gonePayment.prestamoId]) {
      const r = await api('POST', `/prestamos/migration/single/${encodeURIComponent(id)}`, { token: tokens.operator });
      expect(r.status).toBe(200);
      expect(r.body.comparison.exact).toBe(true);
    }
    const again = await api('GET', '/prestamos/migration/verify', { token: tokens.viewer });
    expect(again.body.ok).toBe(true);
    await expectConsistent(db);
  });

  it('tells rows in flight apart from mismatches', async () => {
    const pause = await api('POST', '/prestamos/migration/pause', { token: tokens.operator, json: { reason: 'test: hold the apply' } });
    expect(pause.status).toBe(200);
    expect(pause.body).toMatchObject({ paused: true, reason: 'test: hold the apply' });
    const loan = data.prestamos[7]!;
    const payment = data.pagos[3]!;
    await waitFor('the sync to see the pause', async () => {
      const r = await db.query(`SELECT 1 FROM prestamos_cdc.components WHERE component = 'sync' AND (status->>'paused')::boolean`);
      return r.rowCount! > 0;
    });
    await db.query(`UPDATE "Prestamo" SET monto = monto + 3, "updatedAt" = now() WHERE id = $1`, [loan.id]);
    await db.query(`UPDATE "PagoPrestamo" SET monto = monto + 1, "updatedAt" = now() WHERE id = $1`, [payment.id]);
    try {
      const c = await api('GET', '/prestamos/migration/consistency?fresh=true', { token: tokens.viewer });
      expect(c.status).toBe(200);
      expect(c.body.consistent).toBe(true);
      expect(c.body.dataMatching.loans.mismatched).toBe(0);
      expect(c.body.inFlight.loans).toContain(loan.id);
      expect(c.body.inFlight.loans).toContain(payment.prestamoId); // its totals depend on the payment
      expect(c.body.inFlight.payments).toContain(payment.id);
      expect(c.body.dataMatching.inFlight).toBeGreaterThanOrEqual(3);
      const p = await api('GET', '/prestamos/migration/progress', { token: tokens.viewer });
      expect(p.body.paused).toMatchObject({ paused: true, reason: 'test: hold the apply' });
      const one = await api('GET', `/prestamos/migration/loan/${encodeURIComponent(loan.id)}`, { token: tokens.viewer });
      expect(one.body).toMatchObject({ inFlight: true, exact: false });
      expect(one.body.loan.fields.find((f: { field: string }) => f.field === 'principal').matches).toBe(false);
    } finally {
      const resume = await api('POST', '/prestamos/migration/resume', { token: tokens.operator });
      expect(resume.status).toBe(200);
      expect(resume.body.paused).toBe(false);
    }
    await waitForCatchUp(db);
    const c = await api('GET', '/prestamos/migration/consistency?fresh=true', { token: tokens.viewer });
    expect(c.body.consistent).toBe(true);
    expect(c.body.inFlight.total).toBe(0);
    const one = await api('GET', `/prestamos/migration/loan/${encodeURIComponent(loan.id)}`, { token: tokens.viewer });
    expect(one.body).toMatchObject({ inFlight: false, exact: true });
    await expectConsistent(db);
  });
});
