// Background verification waits while a table snapshot (the first load, a table re-sync) is unfinished:
// the rows it has not reached would all be reported missing, and twice in a row handed to self-repair,
// while the pass competes with the load. A reconciler alone (no capture, no sync) with a table request
// left pending runs no pass; once the request is final, the passes run at their interval.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import { createTestDatabase, type TestDatabase } from '../../support/database.ts';
import { startTestProcess, waitFor, configFor } from '../../support/pipeline.ts';
import { metricValue } from '../../support/cli-process.ts';
import { generateLegacyData, insertLegacyData } from '../../../services/testdata/generator.ts';
import type { RunningProcess } from '../../../services/orchestrator/process-runner.ts';

let db: TestDatabase;
let pool: pg.Pool;
let proc: RunningProcess | undefined;
let requestId = '';

beforeAll(async () => {
  db = await createTestDatabase('migrated');
  pool = new pg.Pool({ connectionString: db.url, max: 4 });
  await insertLegacyData(pool, generateLegacyData({ seed: 41, juntas: 3, loansPerJunta: 10 }));
  const r = await pool.query<{ id: string }>(
    `INSERT INTO prestamos_cdc.snapshot_requests (scope, tables, reason, requested_by) VALUES ('tables', ARRAY['Prestamo','PagoPrestamo'], 'first load', 'test') RETURNING id::text`,
  );
  requestId = r.rows[0]!.id;
  proc = await startTestProcess(db, { capture: false, sync: false, config: configFor(db, { VERIFY_INTERVAL_SECONDS: '1' }) });
});
afterAll(async () => {
  await proc?.stop();
  await pool?.end();
  await db?.drop();
});

const passes = () => metricValue(proc!.url, 'prestamos_cdc_verification_runs_total', { outcome: 'ok' });

describe('background verification and a table snapshot', () => {
  it('runs no pass while the table snapshot is unfinished, and resumes once it is final', { timeout: 60_000 }, async () => {
    // several intervals with the request pending (then running): no pass
    await new Promise((r) => setTimeout(r, 2500));
    await pool.query(`UPDATE prestamos_cdc.snapshot_requests SET status = 'running', started_at = now() WHERE id = $1`, [requestId]);
    await new Promise((r) => setTimeout(r, 2000));
    expect(await passes()).toBe(0);
    const stored = await pool.query(`SELECT count(*)::int AS n FROM prestamos_cdc.verification_runs`);
    expect(stored.rows[0]).toEqual({ n: 0 });

    await pool.query(`UPDATE prestamos_cdc.snapshot_requests SET status = 'applied', applied_at = now() WHERE id = $1`, [requestId]);
    await waitFor('a background pass', async () => (await passes()) > 0, 20_000);
  });
});
