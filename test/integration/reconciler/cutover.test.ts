// Cutover of reads through the read-routing views (prestamos_read), on the real inline pipeline:
// refused while a record is failed and while lag is high; with application writers and readers
// running, reads switch to the new tables and back (API and CLI) without an error on either side; a
// cutover that cannot lock the views gives up within lock_timeout while writes go on; and what the
// views return from the new tables equals the legacy rows.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import { createTestDatabase, type TestDatabase } from '../../support/database.ts';
import { startTestProcess, waitForCatchUp, expectConsistent, configFor, waitFor } from '../../support/pipeline.ts';
import { call, makeTokens, type Tokens } from '../../support/http.ts';
import { runCli } from '../../support/cli.ts';
import { generateLegacyData, insertLegacyData } from '../../../services/testdata/generator.ts';
import { startLegacyWriter } from '../../../services/testdata/legacy-writer.ts';
import type { RunningProcess } from '../../../services/orchestrator/process-runner.ts';

const MAX_LAG = 3;
const LOCK_TIMEOUT_MS = 500;

let db: TestDatabase;
let pool: pg.Pool;
let proc: RunningProcess | undefined;
let tokens: Tokens;
const data = generateLegacyData({ seed: 41, juntas: 8, loansPerJunta: 20 });
const api = (method: string, path: string, o: Parameters<typeof call>[3] = {}) => call(proc!.url, method, path, o);
const cliEnv = () => ({ DATABASE_URL: db.url, SLOT_NAME: `slot_${db.name}`, CUTOVER_MAX_LAG_SECONDS: String(MAX_LAG), LOCK_TIMEOUT_MS: String(LOCK_TIMEOUT_MS) });

/** Tables the read-routing view of `view` reads from. */
async function viewSources(view: 'Prestamo' | 'PagoPrestamo'): Promise<string[]> {
  const r = await db.query<{ t: string }>(
    `SELECT DISTINCT d.refobjid::regclass::text AS t FROM pg_rewrite rw JOIN pg_depend d ON d.objid = rw.oid AND d.classid = 'pg_rewrite'::regclass
      WHERE rw.ev_class = to_regclass($1) AND d.refobjid <> rw.ev_class AND d.refclassid = 'pg_class'::regclass ORDER BY 1`,
    [`prestamos_read."${view}"`],
  );
  return r.rows.map((x) => x.t);
}

/** An application read connection: search_path prestamos_read first, reading without interruption. */
function startReaders(n: number) {
  const readPool = new pg.Pool({ connectionString: db.url, max: n, options: '-c search_path=prestamos_read,public' });
  const stats = { reads: 0, errors: [] as string[] };
  let stop = false;
  const loops = Array.from({ length: n }, async () => {
    while (!stop) {
      try {
        await readPool.query(`SELECT count(*), coalesce(sum(monto), 0)::text FROM "Prestamo" WHERE estado IN ('DESEMBOLSADO', 'PAGADO', 'VENCIDO')`);
        await readPool.query(`SELECT p.id, p.estado, count(g.id) FROM "Prestamo" p LEFT JOIN "PagoPrestamo" g ON g."prestamoId" = p.id AND NOT g.anulado GROUP BY 1, 2 ORDER BY 1 LIMIT 50`);
        stats.reads += 2;
      } catch (err) {
        stats.errors.push((err as Error).message);
      }
    }
  });
  return {
    stats,
    async stop() {
      stop = true;
      await Promise.all(loops);
      await readPool.end();
    },
  };
}

beforeAll(async () => {
  db = await createTestDatabase('migrated');
  pool = new pg.Pool({ connectionString: db.url, max: 8 });
  await insertLegacyData(pool, data);
  tokens = await makeTokens(db);
  proc = await startTestProcess(db, { config: configFor(db, { CUTOVER_MAX_LAG_SECONDS: String(MAX_LAG), LOCK_TIMEOUT_MS: String(LOCK_TIMEOUT_MS) }) });
  expect((await api('POST', '/prestamos/migration/start', { token: tokens.admin })).status).toBe(202);
  await waitForCatchUp(db);
});
afterAll(async () => {
  await proc?.stop();
  await pool?.end();
  await db?.drop();
});

describe('cutover', () => {
  it('starts with reads on the legacy tables, through views that refuse writes', async () => {
    expect(await viewSources('Prestamo')).toEqual(['"Prestamo"']);
    await expect(db.query(`UPDATE prestamos_read."Prestamo" SET monto = monto + 1`)).rejects.toThrow(/for reading only/);
    await expect(db.query(`DELETE FROM prestamos_read."PagoPrestamo"`)).rejects.toThrow(/for reading only/);
    expect(await viewSources('PagoPrestamo')).toEqual(['"PagoPrestamo"']);
    const g = await api('GET', '/prestamos/migration/cutover', { token: tokens.viewer });
    expect(g.status).toBe(200);
    expect(g.body.readsFrom).toBe('legacy');
    expect(g.body.ok).toBe(true);
  });

  it('refuses while a record is failed, with the reason; retrying the record clears it', async () => {
    // a legacy row the sync cannot apply: an estado outside the six
    await db.query(
      `INSERT INTO "Prestamo" (id, "juntaId", "miembroId", monto, "tasaInteres", cuotas, estado, "createdAt", "updatedAt")
       VALUES ('zz-bad-estado-loan', $1, 'm', 100, 0.01, 3, 'DESCONOCIDO', now(), now())`,
      [data.juntas[0]!.id],
    );
    const record = await waitFor('the failed record', async () => {
      const r = await db.query<{ id: string }>(`SELECT id::text FROM prestamos_cdc.failed_records WHERE status = 'open' AND row_id = 'zz-bad-estado-loan'`);
      return r.rows[0]?.id;
    });
    const refused = await api('POST', '/prestamos/migration/cutover', { token: tokens.admin, json: { to: 'new' } });
    expect(refused.status).toBe(409);
    expect(refused.body.error).toMatch(/refused/);
    expect(refused.body.reasons.join('\n')).toMatch(/no failed records: 1 failed records are open/);
    expect(await viewSources('Prestamo')).toEqual(['"Prestamo"']);
    const audit = await db.query(`SELECT outcome, status FROM prestamos_cdc.audit_log WHERE action = 'migration.cutover' ORDER BY id DESC LIMIT 1`);
    expect(audit.rows[0]).toMatchObject({ status: 409 });
    expect(audit.rows[0]!.outcome).toMatch(/refused/);

    const listed = await api('GET', '/prestamos/migration/failed', { token: tokens.viewer });
    expect(listed.body.records.map((r: { id: string }) => r.id)).toContain(record);
    // the application corrects the row; an operator retries the record (re-syncs the loan), closing it
    await db.query(`UPDATE "Prestamo" SET estado = 'PENDIENTE', "updatedAt" = now() WHERE id = 'zz-bad-estado-loan'`);
    await waitForCatchUp(db);
    const retry = await api('POST', `/prestamos/migration/failed/${record}/retry`, { token: tokens.operator });
    expect(retry.status).toBe(200);
    expect(retry.body).toMatchObject({ id: record, status: 'resolved' });
    expect(retry.body.single.comparison.exact).toBe(true);
    expect((await api('GET', '/prestamos/migration/failed', { token: tokens.viewer })).body.count).toBe(0);
    await expectConsistent(db);
  });

  it('refuses while lag is high', async () => {
    expect((await api('POST', '/prestamos/migration/pause', { token: tokens.operator, json: { reason: 'test: build up lag' } })).status).toBe(200);
    try {
      await db.query(`UPDATE "Prestamo" SET "updatedAt" = now() WHERE id = $1`, [data.prestamos[0]!.id]);
      await waitFor('lag above the cutover limit', async () => {
        const p = await api('GET', '/prestamos/migration/progress', { token: tokens.viewer });
        return p.body.lag.seconds > MAX_LAG + 0.5;
      }, 30_000);
      const refused = await api('POST', '/prestamos/migration/cutover', { token: tokens.admin, json: { to: 'new' } });
      expect(refused.status).toBe(409);
      const reasons = refused.body.reasons.join('\n');
      expect(reasons).toMatch(new RegExp(`lag: end-to-end lag [0-9.]+ s \\(limit ${MAX_LAG} s\\)`));
      expect(reasons).toMatch(/apply running: the apply is paused: test: build up lag/);
      expect(await viewSources('Prestamo')).toEqual(['"Prestamo"']);
    } finally {
      expect((await api('POST', '/prestamos/migration/resume', { token: tokens.operator })).status).toBe(200);
    }
    await waitForCatchUp(db);
  });

  it('switches reads to the new tables and back while the application writes and reads, without an error', async () => {
    const writer = startLegacyWriter({ pool, seed: 43, workers: 2, ratePerSecond: 30, readPrefixes: ['c'] });
    const readers = startReaders(2);
    try {
      await new Promise((r) => setTimeout(r, 500));
      const toNew = await api('POST', '/prestamos/migration/cutover', { token: tokens.admin, json: { to: 'new' } });
      expect(toNew.body.reasons ?? []).toEqual([]);
      expect(toNew.status).toBe(200);
      expect(toNew.body).toMatchObject({ readsFrom: 'new', changed: true });
      expect(toNew.body.durationMs).toBeLessThan(1000);
      expect(toNew.body.checks.every((c: { ok: boolean }) => c.ok)).toBe(true);
      expect(await viewSources('Prestamo')).toEqual(['"PrestamoNew"']);
      expect(await viewSources('PagoPrestamo')).toEqual(['"PagoPrestamoNew"']);
      await expect(pool.query(`INSERT INTO prestamos_read."PagoPrestamo" (id) VALUES ('x')`)).rejects.toThrow(/for reading only/);
      const pipelineRow = await db.query(`SELECT reads_from, reads_switched_at IS NOT NULL AS switched FROM prestamos_cdc.pipeline`);
      expect(pipelineRow.rows[0]).toEqual({ reads_from: 'new', switched: true });
      expect((await api('GET', '/prestamos/migration/progress', { token: tokens.viewer })).body.phase).toBe('cut over');
      const readsBefore = readers.stats.reads;
      await new Promise((r) => setTimeout(r, 500));
      expect(readers.stats.reads).toBeGreaterThan(readsBefore); // reading from the new tables

      // the command line does the same, both ways
      const cliLegacy = await runCli(['cutover', '--to', 'legacy'], cliEnv());
      expect(cliLegacy.stderr).toBe('');
      expect(cliLegacy.status).toBe(0);
      expect(cliLegacy.stdout).toMatch(/reads switched to the legacy tables/);
      expect(await viewSources('Prestamo')).toEqual(['"Prestamo"']);
      const cliNew = await runCli(['cutover', '--to', 'new'], cliEnv());
      expect(cliNew.stdout).toMatch(/reads switched to the new tables/);
      expect(cliNew.status).toBe(0);
      expect(await viewSources('Prestamo')).toEqual(['"PrestamoNew"']);
      const cliAudit = await db.query(`SELECT actor, role, outcome, params FROM prestamos_cdc.audit_log WHERE action = 'migration.cutover' AND role = 'cli' ORDER BY id`);
      expect(cliAudit.rows.map((r) => [r.params.body.to, r.outcome])).toEqual([['legacy', 'ok'], ['new', 'ok']]);

      // a cutover that cannot lock the views (a long read holds them) gives up within lock_timeout;
      // writes to the tables go on meanwhile
      const holder = await pool.connect();
      try {
        await holder.query('BEGIN');
        await holder.query('SELECT count(*) FROM prestamos_read."Prestamo"');
        const t0 = Date.now();
        const pending = api('POST', '/prestamos/migration/cutover', { token: tokens.admin, json: { to: 'legacy' } });
        await new Promise((r) => setTimeout(r, 100));
        const w0 = Date.now();
        await pool.query(`UPDATE "Prestamo" SET "updatedAt" = now() WHERE id = $1`, [data.prestamos[1]!.id]);
        expect(Date.now() - w0).toBeLessThan(LOCK_TIMEOUT_MS);
        const blocked = await pending;
        expect(blocked.status).toBe(409);
        expect(blocked.body.error).toMatch(/lock_timeout/);
        expect(Date.now() - t0).toBeLessThan(LOCK_TIMEOUT_MS + 2000);
        expect(await viewSources('Prestamo')).toEqual(['"PrestamoNew"']); // nothing changed
      } finally {
        await holder.query('COMMIT');
        holder.release();
      }

      const back = await api('POST', '/prestamos/migration/cutover', { token: tokens.admin, json: { to: 'legacy' } });
      expect(back.status).toBe(200);
      expect(back.body).toMatchObject({ readsFrom: 'legacy', changed: true });
      expect(back.body.durationMs).toBeLessThan(1000);
      expect(await viewSources('Prestamo')).toEqual(['"Prestamo"']);
      const same = await api('POST', '/prestamos/migration/cutover', { token: tokens.admin, json: { to: 'legacy' } });
      expect(same.body).toMatchObject({ readsFrom: 'legacy', changed: false });
    } finally {
      await writer.stop();
      await readers.stop();
    }
    expect(writer.stats.errors).toEqual([]);
    expect(writer.stats.operations).toBeGreaterThan(20);
    expect(readers.stats.errors).toEqual([]);
    expect(readers.stats.reads).toBeGreaterThan(20);
  });

  it('reads through the views from the new tables give back exactly the legacy rows', async () => {
    await waitForCatchUp(db);
    await expectConsistent(db);
    const toNew = await api('POST', '/prestamos/migration/cutover', { token: tokens.admin, json: { to: 'new' } });
    expect(toNew.status).toBe(200);
    for (const [view, columns] of [
      ['Prestamo', 'id, "juntaId", "miembroId", monto, "tasaInteres", cuotas, estado, "fechaDesembolso", "fechaVencimiento", observaciones, "createdAt", "updatedAt"'],
      ['PagoPrestamo', 'id, "prestamoId", monto, fecha, anulado, "createdAt", "updatedAt"'],
    ] as const) {
      const diff = await db.query(
        `SELECT count(*)::int AS n FROM ((SELECT ${columns} FROM prestamos_read."${view}" EXCEPT ALL SELECT ${columns} FROM public."${view}")
                                   UNION ALL (SELECT ${columns} FROM public."${view}" EXCEPT ALL SELECT ${columns} FROM prestamos_read."${view}")) d`,
      );
      expect({ view, differing: diff.rows[0]!.n }).toEqual({ view, differing: 0 });
      const shape = await db.query(
        `SELECT a.attname, format_type(a.atttypid, a.atttypmod) AS type FROM pg_attribute a WHERE a.attrelid = to_regclass($1) AND a.attnum > 0 ORDER BY a.attnum`,
        [`prestamos_read."${view}"`],
      );
      const legacy = await db.query(
        `SELECT a.attname, format_type(a.atttypid, a.atttypmod) AS type FROM pg_attribute a WHERE a.attrelid = to_regclass($1) AND a.attnum > 0 AND NOT a.attisdropped AND a.attname = ANY($2::text[]) ORDER BY a.attnum`,
        [`public."${view}"`, shape.rows.map((r) => r.attname)],
      );
      expect(shape.rows).toEqual(legacy.rows);
    }
    expect((await api('POST', '/prestamos/migration/cutover', { token: tokens.admin, json: { to: 'legacy' } })).status).toBe(200);
  });
});
