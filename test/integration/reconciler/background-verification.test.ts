// Continuous verification against the real inline pipeline: with nobody asking, a shadow row corrupted
// behind the pipeline's back shows in /metrics within two intervals; with REPAIR_MODE=auto the loan is
// re-synced by itself, audited with the fields that differed and counted; a ledger row of a share is
// put right by a re-sync of its table; with REPAIR_MODE=off the same corruption is reported only.
// GET /consistency answers from the last result with its age; concurrent fresh requests share one run.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import { createTestDatabase, type TestDatabase } from '../../support/database.ts';
import { startTestProcess, waitForCatchUp, expectConsistent, waitFor, configFor } from '../../support/pipeline.ts';
import { call, makeTokens, type Tokens } from '../../support/http.ts';
import { generateLegacyData, insertLegacyData } from '../../../services/testdata/generator.ts';
import type { RunningProcess } from '../../../services/orchestrator/process-runner.ts';

const INTERVAL_SECONDS = 2;
const data = generateLegacyData({ seed: 31, juntas: 6, loansPerJunta: 15 });
const victim = data.prestamos.find((p) => data.pagos.some((g) => g.prestamoId === p.id))!;
const share = data.acciones.find((a) => a.cantidad > 0)!;

interface Harness {
  db: TestDatabase;
  pool: pg.Pool;
  proc: RunningProcess;
  tokens: Tokens;
}

async function startHarness(repairMode: 'auto' | 'off'): Promise<Harness> {
  const db = await createTestDatabase('migrated');
  const pool = new pg.Pool({ connectionString: db.url, max: 4 });
  await insertLegacyData(pool, data);
  const tokens = await makeTokens(db);
  // small ranges: the six juntas are checked as several ranges, as on a large database
  const proc = await startTestProcess(db, { config: configFor(db, { VERIFY_INTERVAL_SECONDS: String(INTERVAL_SECONDS), VERIFY_SLICE_LOANS: '20', REPAIR_MODE: repairMode }) });
  const started = await call(proc.url, 'POST', '/prestamos/migration/start', { token: tokens.admin });
  expect(started.status).toBe(202);
  await waitForCatchUp(db);
  await expectConsistent(db);
  return { db, pool, proc, tokens };
}

async function stopHarness(h: Harness | undefined): Promise<void> {
  await h?.proc.stop();
  await h?.pool.end();
  await h?.db.drop();
}

const scrape = async (h: Harness) => (await fetch(`${h.proc.url}/metrics`)).text();
const sample = (text: string, series: string) => {
  const line = text.split('\n').find((l) => l.startsWith(series + ' '));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
};

describe('background verification with REPAIR_MODE=auto', () => {
  let h: Harness | undefined;
  beforeAll(async () => {
    h = await startHarness('auto');
  });
  afterAll(() => stopHarness(h));

  it('answers /consistency from the last background result, with its age, and shares concurrent fresh runs', async () => {
    // a complete cycle that started after the pipeline caught up (earlier passes saw the rows in flight)
    const since = new Date().toISOString();
    await waitFor('a verification cycle after the catch-up', async () => {
      const v = (await call(h!.proc.url, 'GET', '/prestamos/migration/consistency', { token: h!.tokens.viewer })).body?.verification;
      return v?.cycleComplete === true && v.checkedAt > since && v.durationMs < Date.now() - Date.parse(since);
    }, 60_000, 200);
    const r = await call(h!.proc.url, 'GET', '/prestamos/migration/consistency', { token: h!.tokens.viewer });
    expect(r.status).toBe(200);
    expect(r.body.consistent).toBe(true);
    expect(r.body.inFlight.total).toBe(0);
    expect(r.body.verification).toMatchObject({ source: 'background', cycleComplete: true, coverage: 1, intervalSeconds: INTERVAL_SECONDS, repairMode: 'auto' });
    expect(r.body.verification.ranges).toBeGreaterThan(1);
    expect(r.body.verification.ageSeconds).toBeGreaterThanOrEqual(0);
    expect(r.body.dataMatching.loans.total).toBe(data.prestamos.length);
    expect(r.body.dataMatching.payments.total).toBe(data.pagos.length);
    expect(r.body.capital.juntas).toBe(data.juntas.length);

    const [a, b] = await Promise.all([0, 1].map(() => call(h!.proc.url, 'GET', '/prestamos/migration/consistency?fresh=true', { token: h!.tokens.viewer })));
    expect(a!.body.verification.source).toBe('fresh');
    expect(a!.body.verification.checkedAt).toBe(b!.body.verification.checkedAt);
    expect(a!.body.checkedAt).toBe(b!.body.checkedAt);
    expect(a!.body.dataMatching).toEqual(r.body.dataMatching);

    const metrics = await scrape(h!);
    expect(sample(metrics, 'prestamos_cdc_consistency_ratio{check="loans"}')).toBe(1);
    expect(sample(metrics, 'prestamos_cdc_verification_coverage_ratio')).toBe(1);
    expect(sample(metrics, 'prestamos_cdc_verification_last_success_timestamp_seconds')).toBeGreaterThan(Date.now() / 1000 - 60);
  });

  it('a second reconciler on the same database answers and sets its gauges too (one verifies at a time)', async () => {
    const second = await startTestProcess(h!.db, { capture: false, sync: false, config: configFor(h!.db, { VERIFY_INTERVAL_SECONDS: String(INTERVAL_SECONDS), VERIFY_SLICE_LOANS: '20' }) });
    try {
      await waitFor('the second reconciler\'s gauges', async () => sample(await (await fetch(`${second.url}/metrics`)).text(), 'prestamos_cdc_consistency_ratio{check="loans"}') === 1, 60_000, 200);
      const r = await call(second.url, 'GET', '/prestamos/migration/consistency', { token: h!.tokens.viewer });
      expect(r.status).toBe(200);
      expect(r.body.consistent).toBe(true);
      expect(r.body.verification.source).toBe('background');
      expect(r.body.dataMatching.loans.total).toBe(data.prestamos.length);
    } finally {
      await second.stop();
    }
  });

  it('sees a shadow loan corrupted behind the pipeline unasked, re-syncs it, audits and counts the repair', async () => {
    const t0 = Date.now();
    await h!.db.query(`UPDATE "PrestamoNew" SET principal = principal + 1, notes = 'written behind the pipeline' WHERE id = $1`, [victim.id]);
    // seen within two intervals (plus the time a pass takes on this shared machine), nobody calling the API
    await waitFor('the corruption in /metrics', async () => (sample(await scrape(h!), 'prestamos_cdc_consistency_ratio{check="loans"}') ?? 1) < 1, 60_000, 200);
    const seenAfterSeconds = (Date.now() - t0) / 1000;
    expect(seenAfterSeconds).toBeGreaterThan(0);
    // repaired: counted, audited with the fields that differed, and the loan is exact again
    await waitFor('the repair to be counted', async () => sample(await scrape(h!), 'prestamos_cdc_repairs_total{kind="loan"}') === 1, 60_000, 200);
    const audit = await h!.db.query<{ actor: string; role: string; params: { target: { kind: string; loanId: string }; findings: { key: string; fields?: { field: string; expected: string; new: string }[] }[] }; outcome: string; status: number }>(
      `SELECT actor, role, params, outcome, status FROM prestamos_cdc.audit_log WHERE action = 'verification.repair' ORDER BY id`,
    );
    expect(audit.rows).toHaveLength(1);
    const row = audit.rows[0]!;
    expect(row).toMatchObject({ actor: 'reconciler self-repair', role: 'system', status: 200 });
    expect(row.params.target).toEqual({ kind: 'loan', loanId: victim.id });
    const loanFinding = row.params.findings.find((f) => f.key === `loan:${victim.id}`)!;
    expect(loanFinding.fields!.map((f) => f.field).sort()).toEqual(['notes', 'principal']);
    expect(loanFinding.fields!.find((f) => f.field === 'principal')).toMatchObject({ expected: victim.monto });
    await waitForCatchUp(h!.db);
    await expectConsistent(h!.db);
    await waitFor('consistency back to 1', async () => sample(await scrape(h!), 'prestamos_cdc_consistency_ratio{check="loans"}') === 1, 60_000, 200);
  });

  it('re-syncs the table of a share whose ledger worth was changed behind the pipeline', async () => {
    await h!.db.query(`INSERT INTO capital_movements (junta_id, type, direction, amount, description, accion_id) VALUES ($1, 'ACCION', 'IN', 5.00, 'written behind the pipeline', $2)`, [share.juntaId, share.id]);
    await waitFor('the share repair to be counted', async () => sample(await scrape(h!), 'prestamos_cdc_repairs_total{kind="share"}') === 1, 60_000, 200);
    const audit = await h!.db.query<{ params: { target: unknown; findings: { key: string }[] } }>(`SELECT params FROM prestamos_cdc.audit_log WHERE action = 'verification.repair' ORDER BY id DESC LIMIT 1`);
    expect(audit.rows[0]!.params.target).toEqual({ kind: 'table', table: 'Accion' });
    expect(audit.rows[0]!.params.findings.map((f) => f.key)).toContain(`ledger:ACCION:${share.id}`);
    await waitForCatchUp(h!.db);
    await expectConsistent(h!.db);
  });
});

describe('background verification with REPAIR_MODE=off', () => {
  let h: Harness | undefined;
  beforeAll(async () => {
    h = await startHarness('off');
  });
  afterAll(() => stopHarness(h));

  it('reports a row wrong twice in a row as a repair candidate and leaves it alone', async () => {
    await h!.db.query(`UPDATE "PrestamoNew" SET principal = principal + 1 WHERE id = $1`, [victim.id]);
    await waitFor('the repair candidate', async () => sample(await scrape(h!), 'prestamos_cdc_repair_candidates') === 1, 60_000, 200);
    const consistencyNow = () => call(h!.proc.url, 'GET', '/prestamos/migration/consistency', { token: h!.tokens.viewer });
    await waitFor('the candidate in the published result', async () => (await consistencyNow()).body.verification.repairCandidates.length === 1, 60_000, 200);
    const r = await consistencyNow();
    expect(r.body.consistent).toBe(false);
    expect(r.body.mismatches.loans.map((m: { id: string }) => m.id)).toEqual([victim.id]);
    expect(r.body.verification.repairCandidates).toEqual([expect.objectContaining({ key: `loan:${victim.id}`, target: { kind: 'loan', loanId: victim.id }, reason: expect.stringMatching(/REPAIR_MODE=off/) })]);
    const metrics = await scrape(h!);
    expect(sample(metrics, 'prestamos_cdc_repairs_total{kind="loan"}')).toBe(0);
    const audit = await h!.db.query(`SELECT 1 FROM prestamos_cdc.audit_log WHERE action = 'verification.repair'`);
    expect(audit.rowCount).toBe(0);
    const shadow = await h!.db.query<{ principal: string }>(`SELECT principal::text FROM "PrestamoNew" WHERE id = $1`, [victim.id]);
    expect(shadow.rows[0]!.principal).not.toBe(victim.monto);
  });
});
