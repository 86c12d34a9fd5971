import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import { createTestDatabase, type TestDatabase } from '../../support/database.ts';
import { startTestProcess, waitForCatchUp, expectConsistent, startMigrationFor } from '../../support/pipeline.ts';
import { generateLegacyData, insertLegacyData } from '../../../services/testdata/generator.ts';
import { startLegacyWriter } from '../../../services/testdata/legacy-writer.ts';
import type { RunningProcess } from '../../../services/orchestrator/process-runner.ts';

let db: TestDatabase;
let pool: pg.Pool;
let proc: RunningProcess | undefined;

beforeAll(async () => {
  db = await createTestDatabase('legacy');
  pool = new pg.Pool({ connectionString: db.url, max: 8 });
  await insertLegacyData(pool, generateLegacyData({ seed: 1, juntas: 10, loansPerJunta: 30 }));
});
afterAll(async () => {
  await proc?.stop();
  await pool?.end();
  await db?.drop();
});

describe('inline pipeline (smoke)', () => {
  it('snapshots existing rows and streams live changes into exact shadow tables and ledger', async () => {
    proc = await startTestProcess(db);
    await startMigrationFor(db);
    const writer = startLegacyWriter({ pool, seed: 5, workers: 3, maxOperations: 600 });
    await writer.done;
    expect(writer.stats.errors).toEqual([]);
    await waitForCatchUp(db);
    const report = await expectConsistent(db);
    expect(report.counts.loans).toBeGreaterThan(250);
    expect(report.counts.movements).toBeGreaterThan(0);
  });
});
