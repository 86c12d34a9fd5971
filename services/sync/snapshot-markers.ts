// The sync's side of the snapshot protocol. A chunk's rows arrive as snapshot events, followed on
// every partition of the table's topic by a marker: once the marker of a partition is applied,
// everything of the chunk on that partition is. Marker 0 also removes the rows of the chunk's scope the
// snapshot did not see (they no longer existed) — unless a newer change, invisible to the snapshot, has
// touched them since. When every marker of every chunk of a request is in, the request is applied.
// A table re-sync (after an offset gap or restart) supersedes the table's unapplied chunks, whose
// markers may be among the messages lost.
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from '../runtime/logger.ts';
import type { ChangeEvent, CapturedTable } from '../domain/change-event.ts';
import { requestTableResync, lockRequestOfChunk, completeRequestsIfApplied } from '../runtime/snapshot-requests.ts';
import { versionOfPosition, type Applier, type PreparedChange } from './applier.ts';
import type * as store from './shadow-store.ts';

/**
 * How long a marker waits for its chunk's row to become visible. The chunk row is committed with its
 * watermark, and the marker exists only because that commit came through the replication stream — but
 * the WAL sender decodes a commit once its record is flushed, which is before the committing backend
 * leaves the process array: for a moment the committed row is not yet visible to other sessions. Under
 * load, a marker applied inline (or through a fast broker) can look for its chunk in that moment. A
 * chunk that stays unknown was discarded (read again by a restarted snapshot run), and its marker is
 * ignored after this wait.
 */
export const CHUNK_VISIBILITY_WAIT_MS = 5000;

export class SnapshotMarkers {
  private readonly options: { applier: Applier; logger: Logger; instance: string; isStopping: () => boolean };

  constructor(options: { applier: Applier; logger: Logger; instance: string; isStopping: () => boolean }) {
    this.options = options;
  }

  /** A chunk's marker of one partition, in the transaction that records its offset. */
  async applyChunkEnd(client: store.Client, where: { topic: string; partition: number }, e: Extract<ChangeEvent, { kind: 'chunk-end' }>): Promise<void> {
    const chunkId = e.position.chunkId;
    const requestId = await this.waitForRequestOfChunk(client, chunkId);
    if (requestId === null) {
      this.options.logger.warn({ chunkId, waitedMs: CHUNK_VISIBILITY_WAIT_MS }, 'marker of an unknown snapshot chunk ignored');
      return;
    }
    const inserted = await client.query(
      `INSERT INTO prestamos_cdc.snapshot_chunk_markers (chunk_id, topic, partition) VALUES ($1, $2, $3)
       ON CONFLICT DO NOTHING RETURNING chunk_id`,
      [chunkId, where.topic, where.partition],
    );
    if (!inserted.rowCount) return; // redelivered marker
    await client.query(
      `UPDATE prestamos_cdc.snapshot_chunks
          SET markers_expected = $2, markers_applied = markers_applied + 1,
              applied_at = CASE WHEN markers_applied + 1 >= $2 THEN now() ELSE applied_at END
        WHERE id = $1`,
      [chunkId, e.markers],
    );
    if (e.markerIndex === 0) await this.removeAbsentRows(client, e);
    await completeRequestsIfApplied(client, [requestId]);
  }

  /** One waiting re-sync of the table; chunks whose markers may be among the lost messages are superseded by it. */
  async resyncTable(client: store.Client, table: CapturedTable, reason: string): Promise<void> {
    // serialise gap handling: one waiting re-sync per table
    await client.query(`SELECT pg_advisory_xact_lock(hashtext('prestamos_cdc.resync.' || $1))`, [table]);
    const { id } = await requestTableResync(client, table, reason, `sync ${this.options.instance}`);
    // Chunks of this table whose markers may have been among the lost messages would never
    // complete (and would hold the snapshot back): the re-sync covers their rows.
    const superseded = await client.query<{ request_id: string }>(
      `UPDATE prestamos_cdc.snapshot_chunks SET applied_at = now()
        WHERE source_table = $1 AND applied_at IS NULL AND request_id <> $2 RETURNING request_id::text`,
      [table, id],
    );
    if (!superseded.rowCount) return;
    this.options.logger.warn({ table, chunks: superseded.rowCount, resync: id }, 'unapplied snapshot chunks superseded by the table re-sync');
    // a request whose last unapplied chunks these were is complete now (its markers will not come)
    await completeRequestsIfApplied(client, [...new Set(superseded.rows.map((x) => x.request_id))]);
  }

  /**
   * The id of the request of the chunk, its row locked; null when the chunk stays unknown for
   * CHUNK_VISIBILITY_WAIT_MS. Each try is a statement of its own (read committed): a new snapshot.
   */
  private async waitForRequestOfChunk(client: store.Client, chunkId: string): Promise<string | null> {
    const deadline = Date.now() + CHUNK_VISIBILITY_WAIT_MS;
    for (let pauseMs = 2; ; pauseMs = Math.min(200, pauseMs * 2)) {
      const id = await lockRequestOfChunk(client, chunkId);
      if (id !== null) return id;
      if (Date.now() >= deadline || this.options.isStopping()) return null;
      await sleep(pauseMs);
    }
  }

  /** Marker 0: rows of the chunk's scope that its snapshot did not see are removed (as deletes at the snapshot). */
  private async removeAbsentRows(client: store.Client, e: Extract<ChangeEvent, { kind: 'chunk-end' }>): Promise<void> {
    let absent: string[] = [];
    if (e.scope.kind === 'range') {
      const r = await client.query<{ row_id: string }>(
        `SELECT row_id FROM prestamos_cdc.row_state
          WHERE source_table = $1 AND NOT deleted AND lsn IS NOT NULL
            AND ($2::text IS NULL OR row_id > $2) AND ($3::text IS NULL OR row_id <= $3) AND NOT (row_id = ANY($4::text[]))`,
        [e.table, e.scope.afterKey, e.scope.throughKey, e.keys],
      );
      absent = r.rows.map((x) => x.row_id);
    } else if (e.table === 'Prestamo') {
      absent = e.keys.includes(e.scope.prestamoId) ? [] : [e.scope.prestamoId];
    } else if (e.table === 'PagoPrestamo') {
      // not under the loan is not gone: only payments the snapshot found gone (see ChunkScope)
      absent = e.scope.absentKeys;
    }
    if (absent.length === 0) return;
    const version = versionOfPosition(e.position);
    const outcome = await this.options.applier.applyChanges(
      client,
      absent.map((key) => ({ table: e.table, key, version, row: null, sourceLsn: e.position.lsn, sourceXid: null }) as PreparedChange),
    );
    if (outcome.applied > 0) this.options.logger.info({ table: e.table, removed: outcome.applied, chunkId: e.position.chunkId }, 'rows absent from a snapshot chunk removed');
  }
}
