// A one-loan request (POST /prestamos/migration/single/:id, or the sync's own re-sync of a loan whose
// notes the stream did not carry) made while a table snapshot is running is served between the
// table's chunks: it does not wait for the whole first load.
import { describe, expect, it } from 'vitest';
import { useLegacyDatabase } from '../../support/legacy-fixture.ts';
import { startTestProcess, waitForCatchUp, expectConsistent, startMigrationFor, configFor, waitFor, testLogger } from '../../support/pipeline.ts';
import { generateLegacyData } from '../../../services/testdata/generator.ts';
import { migrateSingleLoan } from '../../../services/reconciler/single-loan.ts';
import { createLoanWriter } from '../../../services/sync/loan-writer.ts';

const data = generateLegacyData({ seed: 44, juntas: 4, loansPerJunta: 40, largeNotesShare: 0 });
const fixture = useLegacyDatabase(data);


describe('a one-loan request during a table snapshot', () => {
  it('is served between the chunks of the first load', { timeout: 300_000 }, async () => {
    // small chunks, one in flight: the first load takes hundreds of chunks
    const config = configFor(fixture.db, { SNAPSHOT_CHUNK_SIZE: '4', SNAPSHOT_MAX_CHUNKS_IN_FLIGHT: '1' });
    const proc = fixture.track(await startTestProcess(fixture.db, { config }));
    await startMigrationFor(fixture.db, config);
    const firstLoad = await waitFor('the first load to be under way', async () => {
      const r = await fixture.db.query<{ id: string; chunks: string }>(
        `SELECT r.id::text, (SELECT count(*) FROM prestamos_cdc.snapshot_chunks c WHERE c.request_id = r.id AND c.applied_at IS NOT NULL)::text AS chunks
           FROM prestamos_cdc.snapshot_requests r WHERE r.scope = 'tables' AND r.status = 'running'`,
      );
      return r.rows[0] && Number(r.rows[0].chunks) >= 2 ? r.rows[0].id : undefined;
    });

    const loan = [...data.prestamos].sort((a, b) => (a.id < b.id ? 1 : -1))[0]!; // the last one the table snapshot reaches
    const result = await migrateSingleLoan({ pool: fixture.pool, logger: testLogger(), pipeline: proc.pipeline, loans: createLoanWriter({ pool: fixture.pool, logger: testLogger() }) }, loan.id, 'test', 120_000);
    expect(result.status).toBe('applied');
    expect(result.mode).toBe('snapshot request');
    expect(result.comparison?.exact).toBe(true);

    const order = await fixture.db.query<{ loan_applied: string; table_emitted: string | null; chunks_after: string }>(
      `SELECT l.applied_at::text AS loan_applied, t.emitted_at::text AS table_emitted,
              (SELECT count(*) FROM prestamos_cdc.snapshot_chunks c WHERE c.request_id = t.id AND c.read_at > l.applied_at)::text AS chunks_after
         FROM prestamos_cdc.snapshot_requests l, prestamos_cdc.snapshot_requests t
        WHERE l.id = $1 AND t.id = $2`,
      [result.requestId, firstLoad],
    );
    const o = order.rows[0]!;
    // the loan was applied while the first load still had chunks to read
    expect({ tableEmittedBeforeLoan: o.table_emitted !== null && o.table_emitted <= o.loan_applied, chunksReadAfter: Number(o.chunks_after) > 0 })
      .toEqual({ tableEmittedBeforeLoan: false, chunksReadAfter: true });

    await waitForCatchUp(fixture.db, 240_000);
    await expectConsistent(fixture.db);
  });
});
