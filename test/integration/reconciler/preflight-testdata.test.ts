// `prestamos-cdc preflight` (the guide's pre-migration checklist) on a ready database and on one with a
// blocking finding; and the test-data endpoints: refused unless enabled, deterministic, removable, with
// the stream reversing the removed rows' effect while the ledger stays append-only.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import { createTestDatabase, type TestDatabase } from '../../support/database.ts';
import { startTestProcess, waitForCatchUp, expectConsistent, configFor } from '../../support/pipeline.ts';
import { call, makeTokens, type Tokens } from '../../support/http.ts';
import { runCli } from '../../support/cli.ts';
import { runPreflight } from '../../../services/reconciler/preflight.ts';
import { generateLegacyData } from '../../../services/testdata/generator.ts';
import type { RunningProcess } from '../../../services/orchestrator/process-runner.ts';

describe('preflight', () => {
  let ready: TestDatabase;
  let broken: TestDatabase;
  beforeAll(async () => {
    ready = await createTestDatabase('legacy');
    broken = await createTestDatabase('legacy');
    await broken.query(`ALTER TABLE "Multa" DROP CONSTRAINT "Multa_pkey"`);
  });
  afterAll(async () => {
    await ready?.drop();
    await broken?.drop();
  });

  it('passes the checklist on a ready database and prints the backup command', async () => {
    const client = new pg.Client({ connectionString: ready.url });
    await client.connect();
    try {
      const report = await runPreflight(client, { slotName: `slot_${ready.name}`, publicationName: 'prestamos_cdc', now: new Date(2025, 0, 2, 3, 4, 5) });
      expect(report.findings.filter((f) => f.status === 'fail')).toEqual([]);
      expect(report.blocking).toBe(false);
      const byCheck = Object.fromEntries(report.findings.map((f) => [f.check, f]));
      expect(byCheck.wal_level).toMatchObject({ status: 'ok', detail: 'logical' });
      expect(byCheck['replication slots']!.status).toBe('ok');
      expect(byCheck['WAL senders']!.status).toBe('ok');
      expect(['ok', 'warn']).toContain(byCheck.max_slot_wal_keep_size!.status);
      for (const t of ['Junta', 'Prestamo', 'PagoPrestamo', 'Accion', 'Multa']) expect(byCheck[`table "${t}"`]!.status).toBe('ok');
      expect(report.counts).toEqual({ Junta: 0, Prestamo: 0, PagoPrestamo: 0, Accion: 0, Multa: 0 });
      expect(report.backupCommand).toBe('pg_dump "$DATABASE_URL" > backup_before_migration_20250102_030405.sql');
    } finally {
      await client.end();
    }
  });

  it('reports a long transaction', async () => {
    const holder = new pg.Client({ connectionString: ready.url });
    await holder.connect();
    try {
      await holder.query('BEGIN');
      await holder.query('SELECT txid_current()');
      await holder.query(`SELECT pg_sleep(1.2)`);
      const client = new pg.Client({ connectionString: ready.url });
      await client.connect();
      try {
        const report = await runPreflight(client, { slotName: 'x', publicationName: 'x', longTransactionSeconds: 1 });
        const long = report.findings.filter((f) => f.check === 'long transactions');
        expect(long.some((f) => f.status === 'warn' && /in a transaction for/.test(f.detail))).toBe(true);
      } finally {
        await client.end();
      }
    } finally {
      await holder.query('ROLLBACK');
      await holder.end();
    }
  });

  it('exits 0 from the command line on a ready database and 1 on a blocking finding', async () => {
    const ok = await runCli(['preflight'], { DATABASE_URL: ready.url, SLOT_NAME: `slot_${ready.name}` });
    expect(ok.status).toBe(0);
    expect(ok.stdout).toMatch(/^ok +wal_level +logical$/m);
    expect(ok.stdout).toMatch(/pg_dump "\$DATABASE_URL" > backup_before_migration_\d{8}_\d{6}\.sql/);
    const bad = await runCli(['preflight'], { DATABASE_URL: broken.url, SLOT_NAME: `slot_${broken.name}` });
    expect(bad.status).toBe(1);
    expect(bad.stdout).toMatch(/^FAIL +table "Multa" +has no primary key/m);
    expect(bad.stdout).toMatch(/BLOCKED/);
    const json = await runCli(['preflight', '--json'], { DATABASE_URL: broken.url, SLOT_NAME: `slot_${broken.name}` });
    expect(json.status).toBe(1);
    expect(JSON.parse(json.stdout).blocking).toBe(true);
  });
});

describe('test data', () => {
  let db: TestDatabase;
  let tokens: Tokens;
  const procs: RunningProcess[] = [];
  let url = '';
  beforeAll(async () => {
    db = await createTestDatabase('migrated');
    tokens = await makeTokens(db);
    const disabled = await startTestProcess(db, { capture: false, sync: false });
    procs.push(disabled);
    const refused = await call(disabled.url, 'POST', '/prestamos/test/create-data', { token: tokens.admin, json: { seed: 1 } });
    expect(refused.status).toBe(403);
    expect(refused.body.error).toMatch(/ENABLE_TEST_DATA=true/);
    await disabled.stop();
    procs.pop();
    const enabled = await startTestProcess(db, { config: configFor(db, { ENABLE_TEST_DATA: 'true' }) });
    procs.push(enabled);
    url = enabled.url;
    expect((await call(url, 'POST', '/prestamos/migration/start', { token: tokens.admin })).status).toBe(202);
    await waitForCatchUp(db);
  });
  afterAll(async () => {
    for (const p of procs) await p.stop();
    await db?.drop();
  });

  it('creates deterministic data, refuses to create it twice, and removes it again', async () => {
    const body = { seed: 7, juntas: 2, loansPerJunta: 15, maxPaymentsPerLoan: 4 };
    const expected = generateLegacyData({ ...body, idPrefix: 'test-7-' });
    const created = await call(url, 'POST', '/prestamos/test/create-data', { token: tokens.admin, json: body });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({
      prefix: 'test-7-',
      created: { juntas: 2, prestamos: 30, pagos: expected.pagos.length, acciones: expected.acciones.length, multas: expected.multas.length },
    });
    expect(created.body.sample.prestamoIds).toEqual(expected.prestamos.slice(0, 5).map((p) => p.id));
    const rows = await db.query<{ id: string; monto: string }>(`SELECT id, monto::text FROM "Prestamo" WHERE starts_with(id, 'test-7-') ORDER BY id`);
    expect(rows.rows).toEqual(expected.prestamos.map((p) => ({ id: p.id, monto: p.monto })).sort((a, b) => (a.id < b.id ? -1 : 1)));
    const twice = await call(url, 'POST', '/prestamos/test/create-data', { token: tokens.admin, json: body });
    expect(twice.status).toBe(409);
    expect(twice.body.reasons[0]).toMatch(/remove-data/);

    await waitForCatchUp(db);
    await expectConsistent(db);
    const migrated = await db.query(`SELECT count(*)::int AS n FROM "PrestamoNew" WHERE starts_with(id, 'test-7-')`);
    expect(migrated.rows[0]!.n).toBe(30);
    const movementsBefore = Number((await db.query(`SELECT count(*) AS n FROM capital_movements`)).rows[0]!.n);
    const worthBefore = await db.query(`SELECT count(*)::int AS n FROM prestamos_cdc.ledger_worth WHERE starts_with(row_id, 'test-7-') AND worth <> 0`);
    expect(worthBefore.rows[0]!.n).toBeGreaterThan(0);

    const removed = await call(url, 'POST', '/prestamos/test/remove-data', { token: tokens.admin, json: { seed: 7 } });
    expect(removed.status).toBe(200);
    expect(removed.body).toMatchObject({ prefix: 'test-7-', removed: { juntas: 2, prestamos: 30, pagos: expected.pagos.length, acciones: expected.acciones.length, multas: expected.multas.length }, juntasKept: [] });
    for (const t of ['Junta', 'Prestamo', 'PagoPrestamo', 'Accion', 'Multa']) {
      expect((await db.query(`SELECT 1 FROM "${t}" WHERE starts_with(id, 'test-7-')`)).rowCount).toBe(0);
    }
    await waitForCatchUp(db);
    await expectConsistent(db);
    // the stream reversed their effect: nothing of them in the new tables, worth zero in the ledger,
    // which only grew (reversals appended)
    expect((await db.query(`SELECT 1 FROM "PrestamoNew" WHERE starts_with(id, 'test-7-')`)).rowCount).toBe(0);
    expect((await db.query(`SELECT 1 FROM "PagoPrestamoNew" WHERE starts_with(prestamo_id, 'test-7-')`)).rowCount).toBe(0);
    const worthAfter = await db.query(`SELECT count(*)::int AS n FROM prestamos_cdc.ledger_worth WHERE starts_with(row_id, 'test-7-') AND worth <> 0`);
    expect(worthAfter.rows[0]!.n).toBe(0);
    expect(Number((await db.query(`SELECT count(*) AS n FROM capital_movements`)).rows[0]!.n)).toBeGreaterThan(movementsBefore);

    const again = await call(url, 'POST', '/prestamos/test/remove-data', { token: tokens.admin, json: { seed: 7 } });
    expect(again.status).toBe(404);
  });
});
