// The set-up most pipeline test files share: a database of their own (from a template) holding the
// generated legacy rows, a pool on it, and the processes started on it — taken down after use (the
// processes first). `useLegacyDatabase` makes it before the file's tests and takes it down after them;
// `withLegacyDatabase` makes one for a single test and takes it down when the test ends, whatever its
// outcome.
import { afterAll, beforeAll } from 'vitest';
import pg from 'pg';
import { createTestDatabase, type TestDatabase } from './database.ts';
import { insertLegacyData, type LegacyData } from '../../services/testdata/generator.ts';
import type { RunningProcess } from '../../services/orchestrator/process-runner.ts';

type Template = 'legacy' | 'migrated';

export interface LegacyFixture {
  readonly db: TestDatabase;
  readonly pool: pg.Pool;
  /** processes to stop when the database is taken down */
  readonly processes: RunningProcess[];
  /** `process`, stopped when the database is taken down */
  track(process: RunningProcess): RunningProcess;
}

interface OpenFixture extends LegacyFixture {
  close(): Promise<void>;
}

async function openLegacyDatabase(data: LegacyData, template: Template): Promise<OpenFixture> {
  const db = await createTestDatabase(template);
  const pool = new pg.Pool({ connectionString: db.url, max: 4 });
  const processes: RunningProcess[] = [];
  const fixture: OpenFixture = {
    db,
    pool,
    processes,
    track(process) {
      processes.push(process);
      return process;
    },
    async close() {
      for (const p of processes.splice(0)) await p.stop();
      await pool.end();
      await db.drop();
    },
  };
  try {
    await insertLegacyData(pool, data);
  } catch (err) {
    await fixture.close().catch(() => undefined);
    throw err;
  }
  return fixture;
}

/** The file's database: made before its tests, taken down after them. */
export function useLegacyDatabase(data: LegacyData, template: Template = 'legacy'): LegacyFixture {
  let open: OpenFixture | undefined;
  beforeAll(async () => {
    open = await openLegacyDatabase(data, template);
  });
  afterAll(async () => {
    await open?.close();
  });
  const made = (): OpenFixture => {
    if (!open) throw new Error('the test database is made before the tests run');
    return open;
  };
  return {
    get db() {
      return made().db;
    },
    get pool() {
      return made().pool;
    },
    get processes() {
      return made().processes;
    },
    track: (process) => made().track(process),
  };
}

/** A database for one test: made for `test`, taken down when it ends (passed or failed). */
export async function withLegacyDatabase<T>(data: LegacyData, template: Template, test: (fixture: LegacyFixture) => Promise<T>): Promise<T> {
  const fixture = await openLegacyDatabase(data, template);
  try {
    return await test(fixture);
  } finally {
    await fixture.close();
  }
}
