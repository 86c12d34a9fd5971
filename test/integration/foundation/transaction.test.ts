// The transaction helpers against a real server: work committed; rolled back on an error; a pooled
// connection broken inside a transaction (as the applier calls it, discarding on transient errors)
// fails with a transient error — which the applier retries — and the pool's next caller gets a working
// connection (node-postgres' pool also drops a connection it sees is no longer queryable).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import { createTestDatabase, type TestDatabase } from '../../support/database.ts';
import { inTransaction, transactionOn } from '../../../connectors/postgres/transaction.ts';
import { isTransientDbError } from '../../../connectors/postgres/retry.ts';

let db: TestDatabase;
let pool: pg.Pool;
let admin: pg.Pool;

beforeAll(async () => {
  db = await createTestDatabase('empty');
  pool = new pg.Pool({ connectionString: db.url, max: 1 });
  pool.on('error', () => undefined);
  admin = new pg.Pool({ connectionString: db.url, max: 1 });
  await admin.query('CREATE TABLE t (v int)');
});
afterAll(async () => {
  await pool?.end();
  await admin?.end();
  await db?.drop();
});

const values = async () => (await admin.query<{ v: number }>('SELECT v FROM t ORDER BY v')).rows.map((r) => r.v);

describe('transactions', () => {
  it('commits the work, and rolls back all of it on an error', async () => {
    expect(await inTransaction(pool, async (c) => (await c.query('INSERT INTO t VALUES (1), (2) RETURNING v')).rowCount)).toBe(2);
    await expect(inTransaction(pool, async (c) => {
      await c.query('INSERT INTO t VALUES (3)');
      throw new Error('refused');
    })).rejects.toThrow('refused');
    const client = new pg.Client({ connectionString: db.url });
    await client.connect();
    try {
      await expect(transactionOn(client, async (c) => {
        await c.query('INSERT INTO t VALUES (4)');
        await c.query('SELECT 1/0');
      })).rejects.toThrow(/division by zero/);
      expect(await transactionOn(client, async (c) => (await c.query('SELECT count(*)::int AS n FROM t')).rows[0])).toEqual({ n: 2 });
    } finally {
      await client.end();
    }
    expect(await values()).toEqual([1, 2]);
  });

  it('a connection broken inside a transaction fails it with a transient error, and the next caller gets a working one', async () => {
    await expect(inTransaction(pool, async (c) => {
      c.on('error', () => undefined); // the terminated connection says so as an event too
      const pid = (await c.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]!.pid;
      await admin.query('SELECT pg_terminate_backend($1)', [pid]);
      await c.query('INSERT INTO t VALUES (5)');
    }, 'BEGIN', isTransientDbError)).rejects.toSatisfy(isTransientDbError);
    // the pool holds one connection at most: the broken one must be gone for this to work
    expect(await inTransaction(pool, async (c) => (await c.query('SELECT 7 AS v')).rows[0])).toEqual({ v: 7 });
    expect(await values()).toEqual([1, 2]);
  });
});
