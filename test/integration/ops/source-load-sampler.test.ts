// One source-load sampler per process: the snapshotter and the sync asking at the same moment run the
// query once; within the interval they get the same value; a failing query gives null and one warning.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import { createTestDatabase, type TestDatabase } from '../../support/database.ts';
import { SourceLoadSampler } from '../../../connectors/postgres/source-load.ts';
import { createMetrics } from '../../../services/runtime/metrics.ts';
import { createLogger } from '../../../services/runtime/logger.ts';

let db: TestDatabase;
let pool: pg.Pool;
beforeAll(async () => {
  db = await createTestDatabase('legacy');
  pool = new pg.Pool({ connectionString: db.url, max: 4 });
});
afterAll(async () => {
  await pool?.end();
  await db?.drop();
});

describe('source-load sampler', () => {
  it('runs the query once for callers of the same interval, and again after it', async () => {
    const metrics = createMetrics({ defaultMetrics: false });
    // the query's value is the moment it ran (microseconds): two runs never give the same value
    const sampler = new SourceLoadSampler({ pool, query: `SELECT extract(epoch FROM clock_timestamp())`, intervalMs: 300, logger: createLogger({ level: 'silent', name: 't' }), metrics });
    const [a, b] = await Promise.all([sampler.current(), sampler.current()]);
    expect(typeof a).toBe('number');
    expect(b).toBe(a);
    expect(await sampler.current()).toBe(a);
    await new Promise((r) => setTimeout(r, 350));
    const later = await sampler.current();
    expect(later).toBeGreaterThan(a!);
    expect((await metrics.sourceLoad.get()).values[0]?.value).toBe(later);
  });

  it('gives null while the query fails, warning once per run of failures', async () => {
    const warnings: string[] = [];
    const logger = createLogger({ level: 'silent', name: 't' });
    const counting = Object.assign(Object.create(logger), { warn: (_: unknown, msg: string) => warnings.push(msg) });
    const sampler = new SourceLoadSampler({ pool, query: `SELECT 'not a number'`, intervalMs: 0, logger: counting, metrics: createMetrics({ defaultMetrics: false }) });
    expect(await sampler.current()).toBeNull();
    expect(await sampler.current()).toBeNull();
    expect(warnings).toEqual(['source-load query failed; not throttling on it']);
  });
});
