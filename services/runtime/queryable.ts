// What a function that runs statements needs of its caller's connection: a pool, a pooled client
// (inside the caller's transaction), a client, or a test database.
import type { QueryResult, QueryResultRow } from 'pg';

export interface Queryable {
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  query<R extends QueryResultRow = any>(text: string, values?: unknown[]): Promise<QueryResult<R>>;
}
