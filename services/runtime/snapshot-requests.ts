// The snapshot requests' table (prestamos_cdc.snapshot_requests): every statement that creates or
// moves a request, for the snapshotter (capture), the sync (markers, re-syncs after a gap) and the
// reconciler (first load, one loan, self-repair, cutover checks). The states and their transitions are
// services/domain/snapshot-request.ts; each UPDATE here moves a request only from the states that may
// lead to its target, so a late or repeated call changes nothing.
import type pg from 'pg';
import type { CapturedTable } from '../domain/change-event.ts';
import { statesLeadingTo, FINAL_SNAPSHOT_STATES, type SnapshotRequestState } from '../domain/snapshot-request.ts';
import type { Queryable } from './queryable.ts';


export interface SnapshotRequestInput {
  scope: 'tables' | 'loan';
  tables: CapturedTable[];
  targetId?: string | null;
  reason: string;
  requestedBy: string;
}

export interface SnapshotRequestRow {
  id: string;
  scope: 'tables' | 'loan';
  tables: string[];
  target_id: string | null;
  cursor: Record<string, { after: string | null; done: boolean; total?: number; read?: number }>;
}

export async function createSnapshotRequest(db: Queryable, input: SnapshotRequestInput): Promise<string> {
  const r = await db.query<{ id: string }>(
    `INSERT INTO prestamos_cdc.snapshot_requests (scope, tables, target_id, reason, requested_by)
     VALUES ($1, $2::text[], $3, $4, $5) RETURNING id::text`,
    [input.scope, input.tables, input.targetId ?? null, input.reason, input.requestedBy],
  );
  return r.rows[0]!.id;
}

/**
 * A table re-sync that is not already waiting: several gaps (or retries) before the snapshot starts
 * need one re-sync, not one each. Returns the id of the new or the waiting request.
 */
export async function requestTableResync(db: Queryable, table: CapturedTable, reason: string, requestedBy: string): Promise<{ id: string; created: boolean }> {
  const waiting = await db.query<{ id: string }>(
    `SELECT id::text FROM prestamos_cdc.snapshot_requests WHERE status = 'pending' AND scope = 'tables' AND tables = ARRAY[$1]::text[] ORDER BY id LIMIT 1`,
    [table],
  );
  if (waiting.rows[0]) return { id: waiting.rows[0].id, created: false };
  return { id: await createSnapshotRequest(db, { scope: 'tables', tables: [table], reason, requestedBy }), created: true };
}

/** The next request to serve: one-loan requests first (an operator or the stream waits for them). */
export async function nextSnapshotRequest(db: Queryable, options: { loansOnly: boolean }): Promise<SnapshotRequestRow | null> {
  const r = await db.query<SnapshotRequestRow>(
    `SELECT id::text, scope, tables, target_id, cursor FROM prestamos_cdc.snapshot_requests
      WHERE status IN ('pending', 'running') ${options.loansOnly ? `AND scope = 'loan'` : ''}
      ORDER BY (scope = 'loan') DESC, id LIMIT 1`,
  );
  return r.rows[0] ?? null;
}

export async function markRequestRunning(db: Queryable, id: string): Promise<void> {
  await db.query(
    `UPDATE prestamos_cdc.snapshot_requests SET status = 'running', started_at = coalesce(started_at, now())
      WHERE id = $1 AND status = ANY($2::text[])`,
    [id, statesLeadingTo('running')],
  );
}

/**
 * Every chunk of the request emitted: `emitted`, or `applied` when the sync has applied them all
 * already (whichever of the two comes last says so: both lock the request row first).
 */
export async function markRequestEmitted(client: pg.PoolClient, id: string): Promise<void> {
  await client.query('SELECT 1 FROM prestamos_cdc.snapshot_requests WHERE id = $1 FOR UPDATE', [id]);
  await client.query(
    `UPDATE prestamos_cdc.snapshot_requests
        SET status = CASE WHEN EXISTS (SELECT 1 FROM prestamos_cdc.snapshot_chunks c WHERE c.request_id = $1 AND c.applied_at IS NULL)
                          THEN 'emitted' ELSE 'applied' END,
            emitted_at = now(),
            applied_at = CASE WHEN EXISTS (SELECT 1 FROM prestamos_cdc.snapshot_chunks c WHERE c.request_id = $1 AND c.applied_at IS NULL)
                              THEN NULL ELSE now() END
      WHERE id = $1 AND status = 'running'`,
    [id],
  );
}

/** The request of a chunk, its row locked (null: no such chunk, or not visible yet). */
export async function lockRequestOfChunk(client: Queryable, chunkId: string): Promise<string | null> {
  const r = await client.query<{ id: string }>(
    `SELECT r.id::text FROM prestamos_cdc.snapshot_requests r JOIN prestamos_cdc.snapshot_chunks c ON c.request_id = r.id
      WHERE c.id = $1 FOR UPDATE OF r`,
    [chunkId],
  );
  return r.rows[0]?.id ?? null;
}

/** Emitted requests among `ids` whose every chunk is applied become `applied`. */
export async function completeRequestsIfApplied(client: Queryable, ids: string[]): Promise<void> {
  if (ids.length === 0) return;
  await client.query(
    `UPDATE prestamos_cdc.snapshot_requests r SET status = 'applied', applied_at = now()
      WHERE r.id = ANY($1::bigint[]) AND r.status = 'emitted'
        AND NOT EXISTS (SELECT 1 FROM prestamos_cdc.snapshot_chunks c WHERE c.request_id = r.id AND c.applied_at IS NULL)`,
    [ids],
  );
}

/** A request that cannot be served: failed, with the error that kept it from being served. */
export async function failRequest(db: Queryable, id: string, error: string): Promise<boolean> {
  const r = await db.query(
    `UPDATE prestamos_cdc.snapshot_requests SET status = 'failed', error = $2 WHERE id = $1 AND status = ANY($3::text[])`,
    [id, error.slice(0, 4000), statesLeadingTo('failed')],
  );
  return (r.rowCount ?? 0) > 0;
}

/** The loan's unfinished one-loan requests are cancelled (its rollback leaves nothing to migrate); their ids. */
export async function cancelLoanRequests(db: Queryable, prestamoId: string, why: string): Promise<string[]> {
  const r = await db.query<{ id: string }>(
    `UPDATE prestamos_cdc.snapshot_requests SET status = 'cancelled', error = $2
      WHERE scope = 'loan' AND target_id = $1 AND status = ANY($3::text[]) RETURNING id::text`,
    [prestamoId, why, statesLeadingTo('cancelled')],
  );
  return r.rows.map((x) => x.id);
}

export async function readRequestOutcome(db: Queryable, id: string): Promise<{ status: SnapshotRequestState; error: string | null } | null> {
  const r = await db.query<{ status: SnapshotRequestState; error: string | null }>('SELECT status, error FROM prestamos_cdc.snapshot_requests WHERE id = $1', [id]);
  return r.rows[0] ?? null;
}

/**
 * Requests not yet at an end, and failed ones that no later applied request covers (same loan, or the
 * same tables or more): what a cutover waits for. A failed request is mended by asking again.
 */
export async function unfinishedRequests(db: Queryable): Promise<{ unfinished: number; failed: { id: string; error: string | null }[] }> {
  const open = await db.query<{ n: string }>(`SELECT count(*)::text AS n FROM prestamos_cdc.snapshot_requests WHERE NOT (status = ANY($1::text[]))`, [FINAL_SNAPSHOT_STATES]);
  const failed = await db.query<{ id: string; error: string | null }>(
    `SELECT r.id::text, r.error FROM prestamos_cdc.snapshot_requests r
      WHERE r.status = 'failed'
        AND NOT EXISTS (SELECT 1 FROM prestamos_cdc.snapshot_requests a
                         WHERE a.status = 'applied' AND a.id > r.id AND a.scope = r.scope
                           AND (CASE WHEN r.scope = 'loan' THEN a.target_id = r.target_id ELSE a.tables @> r.tables END))
      ORDER BY r.id`,
  );
  return { unfinished: Number(open.rows[0]!.n), failed: failed.rows };
}

/**
 * One-loan requests not yet at an end that were made at or before `at` (a timestamp of the database's
 * clock): the re-syncs of loans whose change the stream could not carry whole (unchanged TOASTed notes)
 * and the operators' single/:id.
 */
export async function loanRequestsWaiting(db: Queryable, at: string): Promise<number> {
  const r = await db.query<{ n: string }>(
    `SELECT count(*)::text AS n FROM prestamos_cdc.snapshot_requests
      WHERE scope = 'loan' AND created_at <= $1::timestamptz AND NOT (status = ANY($2::text[]))`,
    [at, FINAL_SNAPSHOT_STATES],
  );
  return Number(r.rows[0]!.n);
}
