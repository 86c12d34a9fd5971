// The position the pipeline waits are measured against (test/support/pipeline.ts committedPosition)
// must be past every transaction committed before it is read — also one committed asynchronously
// (the embedded server runs with synchronous_commit off), whose WAL may still be in the WAL buffers.
// The commit's own position is read from logical decoding (test_decoding), independent of the helper.
// With the write position (pg_current_wal_lsn()) the helper returned a target short of the commit,
// and the offset-gap test's wait for the capture returned before the changes were published.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import { createTestDatabase, type TestDatabase } from '../../support/database.ts';
import { committedPosition } from '../../support/pipeline.ts';
import { waitFor } from '../../support/wait.ts';

let db: TestDatabase;
let client: pg.Client;
const slot = `committed_position_${process.pid}_${Date.now()}`;

beforeAll(async () => {
  db = await createTestDatabase('empty');
  await db.query('CREATE TABLE t (v text)');
  await db.query(`SELECT pg_create_logical_replication_slot($1, 'test_decoding')`, [slot]);
  client = new pg.Client({ connectionString: db.url });
  await client.connect();
});
afterAll(async () => {
  await client?.end();
  await db?.query('SELECT pg_drop_replication_slot($1)', [slot]).catch(() => undefined);
  await db?.drop();
});

describe('committed position', () => {
  it('is past a transaction committed asynchronously just before it is read', async () => {
    for (let round = 0; round < 5; round++) {
      await client.query('SET synchronous_commit TO off');
      await client.query(`INSERT INTO t SELECT md5(g::text) FROM generate_series(1, 50) g`);
      const target = await committedPosition(db);
      // the commit as logical decoding sees it, once the WAL writer has flushed it
      const commit = await waitFor('the commit to be decodable', async () => {
        const r = await db.query<{ lsn: string }>(
          `SELECT lsn::text FROM pg_logical_slot_peek_changes($1, NULL, NULL) WHERE data LIKE 'COMMIT%' ORDER BY lsn DESC LIMIT 1`,
          [slot],
        );
        return r.rows[0]?.lsn;
      });
      const covered = await db.query<{ ok: boolean }>(`SELECT $1::pg_lsn >= $2::pg_lsn AS ok`, [target, commit]);
      expect({ round, target, commit, covered: covered.rows[0]!.ok }).toEqual({ round, target, commit, covered: true });
      // consume it, so that the next round's commit is the only one decoded
      await db.query(`SELECT count(*) FROM pg_logical_slot_get_changes($1, NULL, NULL)`, [slot]);
    }
  });
});
