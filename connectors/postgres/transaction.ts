// One transaction: BEGIN (or the given opening statement), the work, COMMIT; ROLLBACK on any error.
// `transactionOn` runs it on a connection the caller holds; `inTransaction` on a pooled connection,
// which always goes back to the pool — or is discarded, when `discardOn` says the error left it unusable
// (a lost connection must not be handed to the next caller).
import type pg from 'pg';

export async function transactionOn<C extends { query(text: string): Promise<unknown> }, T>(client: C, fn: (client: C) => Promise<T>, begin = 'BEGIN'): Promise<T> {
  await client.query(begin);
  try {
    const out = await fn(client);
    await client.query('COMMIT');
    return out;
  } catch (err) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw err;
  }
}

export async function inTransaction<T>(pool: pg.Pool, fn: (client: pg.PoolClient) => Promise<T>, begin = 'BEGIN', discardOn?: (err: unknown) => boolean): Promise<T> {
  const client = await pool.connect();
  let discard: Error | undefined;
  try {
    return await transactionOn(client, fn, begin);
  } catch (err) {
    if (discardOn?.(err)) discard = err instanceof Error ? err : new Error(String(err));
    throw err;
  } finally {
    client.release(discard);
  }
}
