// The property scenario (test/support/scenarios.ts) in inline mode: capture and sync in one process,
// the slot acknowledged after the apply.
import { afterEach, describe, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../../support/database.ts';
import { startTestProcess, configFor } from '../../support/pipeline.ts';
import { runPropertyScenario } from '../../support/scenarios.ts';
import type { RunningProcess } from '../../../services/orchestrator/process-runner.ts';

const SEEDS = process.env.PROPERTY_SEEDS ? process.env.PROPERTY_SEEDS.split(',').map(Number) : [101, 202];
const cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
});

describe('property: inline pipeline under a random concurrent workload', () => {
  for (const seed of SEEDS) {
    it(`seed ${seed}: new tables and ledger equal what the legacy rows imply`, async () => {
      const db: TestDatabase = await createTestDatabase('legacy');
      cleanup.push(() => db.drop());
      const config = configFor(db, { SNAPSHOT_CHUNK_SIZE: '100', APPLY_BATCH_SIZE: '500' });
      let proc: RunningProcess | undefined;
      cleanup.push(async () => proc?.stop());
      await runPropertyScenario({
        db,
        config,
        seed,
        startPipeline: async () => {
          proc = await startTestProcess(db, { config, mode: 'inline' });
        },
      });
    });
  }
});
