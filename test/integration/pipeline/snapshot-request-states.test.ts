// The ends of a snapshot request other than `applied`: a request the database keeps refusing is
// `failed` after SNAPSHOT_MAX_ATTEMPTS attempts, its error recorded, and the snapshotter goes on with
// the next one (it does not retry one request for ever while the others wait); a one-loan request
// still waiting when its loan is rolled back is `cancelled` (it would migrate the loan again).
import { describe, expect, it } from 'vitest';
import { useLegacyDatabase, withLegacyDatabase } from '../../support/legacy-fixture.ts';
import { startTestProcess, waitForCatchUp, startMigrationFor, configFor, waitFor, testLogger } from '../../support/pipeline.ts';
import { generateLegacyData } from '../../../services/testdata/generator.ts';
import { createLoanWriter } from '../../../services/sync/loan-writer.ts';
import { createSnapshotRequest, unfinishedRequests } from '../../../services/runtime/snapshot-requests.ts';
import { SNAPSHOT_MAX_ATTEMPTS } from '../../../services/domain/snapshot-request.ts';
import { waitUntilApplied } from '../../../services/runtime/control-plane.ts';
import type { Queryable } from '../../../services/runtime/queryable.ts';

const data = generateLegacyData({ seed: 46, juntas: 2, loansPerJunta: 6, largeNotesShare: 0 });
const fixture = useLegacyDatabase(data);
const loans = [...data.prestamos].map((l) => l.id).sort();

/** Makes the database refuse, with `message`, the snapshot chunks `condition` (SQL over NEW) picks. */
async function refuseChunks(pool: Queryable, name: string, condition: string, message: string): Promise<void> {
  await pool.query(`
    CREATE FUNCTION ${name}() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      IF (${condition}) THEN RAISE EXCEPTION '${message}'; END IF;
      RETURN NEW;
    END $$;
    CREATE TRIGGER ${name} BEFORE INSERT ON prestamos_cdc.snapshot_chunks FOR EACH ROW EXECUTE FUNCTION ${name}();`);
}

describe('snapshot request states', () => {
  it('a request the database keeps refusing fails with its error, and the next request is served', { timeout: 180_000 }, async () => {
    const config = configFor(fixture.db);
    const proc = fixture.track(await startTestProcess(fixture.db, { config }));
    await startMigrationFor(fixture.db, config);
    await waitForCatchUp(fixture.db, 120_000);

    // the database refuses every chunk of the one-loan requests for loans[0]
    await refuseChunks(fixture.pool, 'refuse_chunk', `EXISTS (SELECT 1 FROM prestamos_cdc.snapshot_requests r WHERE r.id = NEW.request_id AND r.target_id = '${loans[0]}')`, 'chunk refused for this loan');
    const refused = await createSnapshotRequest(fixture.pool, { scope: 'loan', tables: ['Prestamo', 'PagoPrestamo'], targetId: loans[0], reason: 'test', requestedBy: 'test' });
    const next = await createSnapshotRequest(fixture.pool, { scope: 'loan', tables: ['Prestamo', 'PagoPrestamo'], targetId: loans[1], reason: 'test', requestedBy: 'test' });
    // "everything committed before now is applied" includes the loan re-syncs requested by now: not
    // while these two wait
    expect(await waitUntilApplied(fixture.pool, 2000)).toBe(false);

    const failed = await waitFor('the refused request to fail', async () => {
      const r = await fixture.pool.query<{ status: string; error: string | null }>(`SELECT status, error FROM prestamos_cdc.snapshot_requests WHERE id = $1`, [refused]);
      return r.rows[0]!.status === 'failed' ? r.rows[0]! : false;
    }, 120_000);
    expect(failed.error).toContain(`${SNAPSHOT_MAX_ATTEMPTS} attempts failed`);
    expect(failed.error).toContain('chunk refused for this loan');
    await waitFor('the next request to be applied', async () => {
      const r = await fixture.pool.query<{ status: string }>(`SELECT status FROM prestamos_cdc.snapshot_requests WHERE id = $1`, [next]);
      return r.rows[0]!.status === 'applied';
    }, 60_000);
    expect(await waitUntilApplied(fixture.pool, 30_000)).toBe(true);
    // the cutover waits for it until it is asked for again
    expect((await unfinishedRequests(fixture.pool)).failed.map((f) => f.id)).toEqual([refused]);
    await fixture.pool.query('DROP TRIGGER refuse_chunk ON prestamos_cdc.snapshot_chunks');
    const again = await createSnapshotRequest(fixture.pool, { scope: 'loan', tables: ['Prestamo', 'PagoPrestamo'], targetId: loans[0], reason: 'asked again', requestedBy: 'test' });
    await waitFor('the request asked again to be applied', async () => {
      const r = await fixture.pool.query<{ status: string }>(`SELECT status FROM prestamos_cdc.snapshot_requests WHERE id = $1`, [again]);
      return r.rows[0]!.status === 'applied';
    }, 60_000);
    expect(await unfinishedRequests(fixture.pool)).toEqual({ unfinished: 0, failed: [] });
    await proc.stop();
  });

  it('a loan request refused between the chunks of a table snapshot fails alone: the table snapshot goes on', { timeout: 180_000 }, async () => {
    // a second database, a first load of hundreds of small chunks
    const bigData = generateLegacyData({ seed: 48, juntas: 4, loansPerJunta: 40, largeNotesShare: 0 });
    await withLegacyDatabase(bigData, 'legacy', async ({ db: big, pool: bigPool, track }) => {
      const refusedLoan = [...bigData.prestamos].map((l) => l.id).sort()[0]!;
      const config = configFor(big, { SNAPSHOT_CHUNK_SIZE: '4', SNAPSHOT_MAX_CHUNKS_IN_FLIGHT: '1' });
      track(await startTestProcess(big, { config }));
      await startMigrationFor(big, config);
      const table = await waitFor('the first load to be under way', async () => {
        const r = await bigPool.query<{ id: string }>(
          `SELECT r.id::text FROM prestamos_cdc.snapshot_requests r
            WHERE r.scope = 'tables' AND r.status = 'running' AND (SELECT count(*) FROM prestamos_cdc.snapshot_chunks c WHERE c.request_id = r.id) >= 2`,
        );
        return r.rows[0]?.id;
      }, 60_000);
      await refuseChunks(bigPool, 'refuse_loan_chunk', `EXISTS (SELECT 1 FROM prestamos_cdc.snapshot_requests r WHERE r.id = NEW.request_id AND r.scope = 'loan')`, 'loan chunk refused');
      const loanRequest = await createSnapshotRequest(bigPool, { scope: 'loan', tables: ['Prestamo', 'PagoPrestamo'], targetId: refusedLoan, reason: 'test', requestedBy: 'test' });
      await waitFor('the table snapshot to be applied', async () => {
        const r = await bigPool.query<{ status: string }>(`SELECT status FROM prestamos_cdc.snapshot_requests WHERE id = $1`, [table]);
        if (r.rows[0]!.status === 'failed') throw new Error('the table snapshot failed');
        return r.rows[0]!.status === 'applied';
      }, 150_000);
      const failed = await waitFor('the loan request to fail', async () => {
        const r = await bigPool.query<{ status: string; error: string | null }>(`SELECT status, error FROM prestamos_cdc.snapshot_requests WHERE id = $1`, [loanRequest]);
        return r.rows[0]!.status === 'failed' ? r.rows[0]! : false;
      }, 60_000);
      expect(failed.error).toContain('loan chunk refused');
    });
  });

  it('a table snapshot that keeps moving on between failures is not failed: it completes', { timeout: 240_000 }, async () => {
    await withLegacyDatabase(generateLegacyData({ seed: 49, juntas: 2, loansPerJunta: 25, largeNotesShare: 0 }), 'migrated', async ({ db: big, pool: bigPool, track }) => {
      // every other chunk of Prestamo the snapshot records is refused (a sequence is not rolled back
      // with the refusal; CASE keeps the other tables' chunks from counting)
      await bigPool.query('CREATE SEQUENCE chunk_attempts');
      await refuseChunks(bigPool, 'refuse_every_other_chunk', `CASE WHEN NEW.source_table = 'Prestamo' THEN nextval('chunk_attempts') % 2 = 0 ELSE false END`, 'chunk refused this time');
      const config = configFor(big, { SNAPSHOT_CHUNK_SIZE: '2', SNAPSHOT_MAX_CHUNKS_IN_FLIGHT: '1' });
      track(await startTestProcess(big, { config }));
      await startMigrationFor(big, config);
      const refusals = await waitFor('the first load to be applied', async () => {
        const r = await bigPool.query<{ status: string; refused: string }>(
          `SELECT status, (SELECT last_value FROM chunk_attempts)::text AS refused FROM prestamos_cdc.snapshot_requests WHERE scope = 'tables' ORDER BY id LIMIT 1`,
        );
        if (r.rows[0]?.status === 'failed') throw new Error('the first load failed');
        return r.rows[0]?.status === 'applied' ? Math.floor(Number(r.rows[0].refused) / 2) : false;
      }, 200_000);
      // far more failures than SNAPSHOT_MAX_ATTEMPTS, none twice at the same place
      expect(refusals).toBeGreaterThan(SNAPSHOT_MAX_ATTEMPTS);
    });
  });

  it('a one-loan request still waiting when its loan is rolled back is cancelled, with the reason', async () => {
    // no capture runs now: the request stays pending
    const waiting = await createSnapshotRequest(fixture.pool, { scope: 'loan', tables: ['Prestamo', 'PagoPrestamo'], targetId: loans[2], reason: 'test', requestedBy: 'test' });
    const other = await createSnapshotRequest(fixture.pool, { scope: 'loan', tables: ['Prestamo', 'PagoPrestamo'], targetId: loans[3], reason: 'test', requestedBy: 'test' });
    const result = await createLoanWriter({ pool: fixture.pool, logger: testLogger() }).rollBack(loans[2]!, 'operator-test', 'req-1');
    expect(result.status).toBe('rolled back');
    const r = await fixture.pool.query<{ id: string; status: string; error: string | null }>(
      `SELECT id::text, status, error FROM prestamos_cdc.snapshot_requests WHERE id = ANY($1::bigint[]) ORDER BY id`,
      [[waiting, other]],
    );
    expect(r.rows).toEqual([
      { id: waiting, status: 'cancelled', error: `cancelled: loan ${loans[2]} rolled back by operator-test` },
      { id: other, status: 'pending', error: null },
    ]);
  });
});
