// Automatic throttling on a configured source-load query (SOURCE_LOAD_QUERY / SOURCE_LOAD_THRESHOLD),
// on real PostgreSQL with the inline pipeline: while the load is above the threshold the snapshot takes
// no chunk and the apply takes no change; the metrics, /readyz and the progress API say so and why;
// once the load falls, both go on by themselves and the result is exact.
import { afterAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import { createTestDatabase } from '../../support/database.ts';
import { configFor, startTestProcess, startMigrationFor, waitFor, waitForCatchUp, expectConsistent } from '../../support/pipeline.ts';
import { metricValue } from '../../support/cli-process.ts';
import { call, makeTokens } from '../../support/http.ts';
import { generateLegacyData, insertLegacyData } from '../../../services/testdata/generator.ts';

const cleanup: (() => Promise<void>)[] = [];
afterAll(async () => {
  for (const c of cleanup.reverse()) await c().catch(() => undefined);
});

describe('throttling on source load', () => {
  it('holds the snapshot and the apply while the load query is above its threshold, says why, then resumes', { timeout: 180_000 }, async () => {
    const db = await createTestDatabase('legacy');
    cleanup.push(() => db.drop());
    const pool = new pg.Pool({ connectionString: db.url, max: 3 });
    cleanup.push(() => pool.end());
    await insertLegacyData(pool, generateLegacyData({ seed: 41, juntas: 4, loansPerJunta: 25, largeNotesShare: 0 }));
    // the operator's load signal: here a one-row table the test turns up and down
    await pool.query(`CREATE TABLE load_signal (value numeric NOT NULL); INSERT INTO load_signal VALUES (100)`);
    const config = configFor(db, { SOURCE_LOAD_QUERY: 'SELECT value FROM load_signal', SOURCE_LOAD_THRESHOLD: '10', SNAPSHOT_CHUNK_SIZE: '20' });
    const proc = await startTestProcess(db, { config });
    cleanup.push(() => proc.stop());
    await startMigrationFor(db, config);
    const { admin, viewer } = await makeTokens(db);

    // throttled from the first chunk: nothing reaches the new tables
    const progress = await waitFor('the progress API to report the throttle', async () => {
      const r = await call(proc.url, 'GET', '/prestamos/migration/progress', { token: viewer });
      return r.body?.throttled?.active === true && r.body.throttled.apply.length > 0 && r.body.throttled.snapshot ? r.body : false;
    }, 30_000);
    expect(progress.throttled.snapshot).toMatch(/source load 100 above 10/);
    expect(progress.throttled.apply[0].reason).toMatch(/source load 100 above 10/);
    expect(await metricValue(proc.url, 'prestamos_cdc_throttled', { reason: 'source_load' })).toBe(1);
    expect(await metricValue(proc.url, 'prestamos_cdc_throttled', { reason: 'snapshot_source_load' })).toBe(1);
    expect(await metricValue(proc.url, 'prestamos_cdc_source_load')).toBe(100);
    const ready = await fetch(`${proc.url}/readyz`).then((r) => r.json() as Promise<{ checks: Record<string, { detail: string }> }>);
    expect(ready.checks.sync?.detail).toMatch(/^throttled: source load/);
    const metricsJson = await call(proc.url, 'GET', '/prestamos/migration/metrics', { token: admin });
    expect(metricsJson.body.throttled.active).toBe(true);

    // a live change meanwhile is held as well
    const loan = (await pool.query<{ id: string }>(`SELECT id FROM "Prestamo" ORDER BY id LIMIT 1`)).rows[0]!.id;
    await pool.query(`UPDATE "Prestamo" SET estado = 'CANCELADO' WHERE id = $1`, [loan]);
    await new Promise((r) => setTimeout(r, 4000));
    expect(Number((await pool.query(`SELECT count(*) FROM "PrestamoNew"`)).rows[0].count)).toBe(0);
    expect(Number((await pool.query(`SELECT count(*) FROM capital_movements`)).rows[0].count)).toBe(0);

    // the load falls: both go on by themselves
    await pool.query(`UPDATE load_signal SET value = 3`);
    await waitFor('the throttle to lift', async () => {
      const r = await call(proc.url, 'GET', '/prestamos/migration/progress', { token: viewer });
      return r.body?.throttled?.active === false;
    }, 30_000);
    expect(await metricValue(proc.url, 'prestamos_cdc_throttled', { reason: 'source_load' })).toBe(0);
    await waitForCatchUp(db, 120_000);
    await expectConsistent(db);
    const migrated = await pool.query<{ status: string }>(`SELECT status FROM "PrestamoNew" WHERE id = $1`, [loan]);
    expect(migrated.rows).toEqual([{ status: 'cancelled' }]);
  });

  it('stops within its bound while the apply is held, and the next start applies what was held', { timeout: 180_000 }, async () => {
    const db = await createTestDatabase('legacy');
    cleanup.push(() => db.drop());
    const pool = new pg.Pool({ connectionString: db.url, max: 3 });
    cleanup.push(() => pool.end());
    await insertLegacyData(pool, generateLegacyData({ seed: 42, juntas: 3, loansPerJunta: 20, largeNotesShare: 0 }));
    await pool.query(`CREATE TABLE load_signal (value numeric NOT NULL); INSERT INTO load_signal VALUES (0)`);
    const config = configFor(db, { SOURCE_LOAD_QUERY: 'SELECT value FROM load_signal', SOURCE_LOAD_THRESHOLD: '10', SHUTDOWN_TIMEOUT_MS: '5000' });
    const first = await startTestProcess(db, { config });
    cleanup.push(() => first.stop());
    await startMigrationFor(db, config);
    await waitForCatchUp(db, 120_000);
    await pool.query(`UPDATE load_signal SET value = 50`);
    await waitFor('the apply to be held', async () => (await metricValue(first.url, 'prestamos_cdc_throttled', { reason: 'source_load' })) === 1, 30_000);
    // changes the held apply cannot take: the capture has them buffered when asked to stop
    await pool.query(`UPDATE "Prestamo" SET estado = 'CANCELADO' WHERE id IN (SELECT id FROM "Prestamo" ORDER BY id LIMIT 5)`);
    await new Promise((r) => setTimeout(r, 2000));
    const t0 = Date.now();
    await first.stop();
    expect(Date.now() - t0).toBeLessThan(15_000);

    await pool.query(`UPDATE load_signal SET value = 0`);
    const second = await startTestProcess(db, { config });
    cleanup.push(() => second.stop());
    await waitForCatchUp(db, 120_000);
    await expectConsistent(db);
    const cancelled = await pool.query(`SELECT count(*)::int AS n FROM "PrestamoNew" WHERE status = 'cancelled' AND id IN (SELECT id FROM "Prestamo" ORDER BY id LIMIT 5)`);
    expect(cancelled.rows[0].n).toBe(5);
  });
});
