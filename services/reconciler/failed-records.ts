// Failed records (messages the sync could not apply; also on the dead-letter topic): listing them, and
// the two ways to close one. Retry re-syncs what the message was about — for a loan or a payment, the
// loan with all its payments through the single-loan migration; for a share or a fine, its table
// through a snapshot request — and closes the record once that is applied. Resolve closes a record an
// operator has dealt with otherwise (say, a message that could not even be decoded), with a note.
// Cutover refuses while any record is open.
import type pg from 'pg';
import { ConflictError, NotFoundError } from '../runtime/errors.ts';
import { createSnapshotRequest } from '../runtime/snapshot-requests.ts';
import { migrateSingleLoan, type SingleLoanDeps, type SingleLoanResult } from './single-loan.ts';

export interface FailedRecordView {
  id: string;
  status: 'open' | 'resolved';
  sourceTable: string | null;
  rowId: string | null;
  topic: string | null;
  partition: number | null;
  offset: string | null;
  error: string;
  errorCode: string;
  payloadBytes: number;
  createdAt: string;
  resolvedAt: string | null;
  resolution: string | null;
}

export async function listFailedRecords(pool: pg.Pool, options: { status: 'open' | 'resolved' | 'all'; limit: number; beforeId: string | null }): Promise<{ count: number; records: FailedRecordView[] }> {
  const where = `($1::text = 'all' OR status = $1) AND ($2::bigint IS NULL OR id < $2::bigint)`;
  const count = await pool.query<{ n: string }>(`SELECT count(*)::text AS n FROM prestamos_cdc.failed_records WHERE ($1::text = 'all' OR status = $1)`, [options.status]);
  const r = await pool.query(
    `SELECT id::text, status, source_table, row_id, topic, partition, kafka_offset::text, left(error, 2000) AS error, error_code,
            coalesce(octet_length(payload), 0) AS payload_bytes, created_at::text, resolved_at::text, resolution
       FROM prestamos_cdc.failed_records WHERE ${where} ORDER BY id DESC LIMIT $3`,
    [options.status, options.beforeId, options.limit],
  );
  return {
    count: Number(count.rows[0]!.n),
    records: r.rows.map((x) => ({
      id: x.id,
      status: x.status,
      sourceTable: x.source_table,
      rowId: x.row_id,
      topic: x.topic,
      partition: x.partition,
      offset: x.kafka_offset,
      error: x.error,
      errorCode: x.error_code,
      payloadBytes: Number(x.payload_bytes),
      createdAt: x.created_at,
      resolvedAt: x.resolved_at,
      resolution: x.resolution,
    })),
  };
}

async function openRecord(pool: pg.Pool, id: string): Promise<{ source_table: string | null; row_id: string | null }> {
  const r = await pool.query<{ source_table: string | null; row_id: string | null; status: string }>(
    'SELECT source_table, row_id, status FROM prestamos_cdc.failed_records WHERE id = $1',
    [id],
  );
  const rec = r.rows[0];
  if (!rec) throw new NotFoundError(`no failed record ${id}`);
  if (rec.status !== 'open') throw new ConflictError(`failed record ${id} is already resolved`, [], 'already_resolved');
  return rec;
}

async function close(pool: pg.Pool, id: string, resolution: string): Promise<boolean> {
  const r = await pool.query(
    `UPDATE prestamos_cdc.failed_records SET status = 'resolved', resolved_at = now(), resolution = $2 WHERE id = $1 AND status = 'open'`,
    [id, resolution.slice(0, 2000)],
  );
  return (r.rowCount ?? 0) > 0;
}

export interface RetryResult {
  id: string;
  status: 'resolved' | 'pending';
  action: string;
  single?: SingleLoanResult;
  snapshotRequestId?: string;
}

export async function retryFailedRecord(deps: SingleLoanDeps, id: string, actor: string, waitMs: number): Promise<RetryResult> {
  const rec = await openRecord(deps.pool, id);
  if (rec.source_table === 'Prestamo' || rec.source_table === 'PagoPrestamo') {
    if (!rec.row_id) throw new ConflictError(`failed record ${id} does not say which row it was`, ['resolve it with a note after checking the dead-letter topic'], 'unknown_row');
    let loanId: string | null = rec.row_id;
    if (rec.source_table === 'PagoPrestamo') {
      const l = await deps.pool.query<{ id: string }>(
        `SELECT "prestamoId" AS id FROM "PagoPrestamo" WHERE id = $1 UNION ALL SELECT prestamo_id FROM "PagoPrestamoNew" WHERE id = $1 LIMIT 1`,
        [rec.row_id],
      );
      loanId = l.rows[0]?.id ?? null;
      if (!loanId) {
        await close(deps.pool, id, `retried by ${actor}: payment ${rec.row_id} exists neither in the legacy nor in the new tables; nothing to re-sync`);
        return { id, status: 'resolved', action: 'nothing to re-sync: the payment no longer exists' };
      }
    }
    const single = await migrateSingleLoan(deps, loanId, actor, waitMs);
    if (single.status !== 'applied') return { id, status: 'pending', action: `loan ${loanId} re-sync requested; retry again once applied`, single };
    await close(deps.pool, id, `retried by ${actor}: loan ${loanId} re-synced (${single.mode}${single.requestId ? ` ${single.requestId}` : ''})${single.comparison?.exact ? ', exact' : ''}`);
    return { id, status: 'resolved', action: `loan ${loanId} re-synced with its payments`, single };
  }
  if (rec.source_table === 'Accion' || rec.source_table === 'Multa') {
    const requestId = await createSnapshotRequest(deps.pool, {
      scope: 'tables',
      tables: [rec.source_table],
      reason: `retry of failed record ${id} by ${actor}`,
      requestedBy: actor,
    });
    await close(deps.pool, id, `retried by ${actor}: table ${rec.source_table} re-sync requested (snapshot request ${requestId})`);
    return { id, status: 'resolved', action: `table ${rec.source_table} re-sync requested`, snapshotRequestId: requestId };
  }
  throw new ConflictError(`failed record ${id} does not say which table it was for`, ['resolve it with a note after checking the dead-letter topic'], 'unknown_row');
}

export async function resolveFailedRecord(pool: pg.Pool, id: string, actor: string, note: string): Promise<{ id: string; status: 'resolved'; resolution: string }> {
  await openRecord(pool, id);
  const resolution = `resolved by ${actor}: ${note}`;
  if (!(await close(pool, id, resolution))) throw new ConflictError(`failed record ${id} is already resolved`, [], 'already_resolved');
  return { id, status: 'resolved', resolution };
}
