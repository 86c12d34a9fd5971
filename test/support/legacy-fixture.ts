// The set-up most pipeline test files share: a database of their own (from a template) holding the
// generated legacy rows, a pool on it, and the processes the file starts — made before the file's
// tests and taken down after them (the processes first).
import { afterAll, beforeAll } from 'vitest';
import pg from 'pg';
import { createTestDatabase, type TestDatabase } from './database.ts';
import { insertLegacyData, type LegacyData } from '../../services/testdata/generator.ts';
import type { RunningProcess } from '../../services/orchestrator/process-runner.ts';

export interface LegacyFixture {
  readonly db: TestDatabase;
  readonly pool: pg.Pool;
  /** processes to stop after the file's tests */
  readonly processes: RunningProcess[];
  /** `process`, stopped after the file's tests */
  track(process: RunningProcess): RunningProcess;
}

export function useLegacyDatabase(data: LegacyData, template: 'legacy' | 'migrated' = 'legacy'): LegacyFixture {
  let db: TestDatabase | undefined;
  let pool: pg.Pool | undefined;
  const processes: RunningProcess[] = [];
  beforeAll(async () => {
    db = await createTestDatabase(template);
    pool = new pg.Pool({ connectionString: db.url, max: 4 });
    await insertLegacyData(pool, data);
  });
  afterAll(async () => {
    for (const p of processes.splice(0)) await p.stop();
    await pool?.end();
    await db?.drop();
  });
  return {
    get db() {
      if (!db) throw new Error('the test database is made before the tests run');
      return db;
    },
    get pool() {
      if (!pool) throw new Error('the test database is made before the tests run');
      return pool;
    },
    processes,
    track(process: RunningProcess) {
      processes.push(process);
      return process;
    },
  };
}
