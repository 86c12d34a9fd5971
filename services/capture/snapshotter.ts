// The snapshot: rows that existed before the stream started (or a table to re-sync after a gap, or one
// loan on demand) read in primary-key chunks, each in a short REPEATABLE READ transaction whose
// pg_snapshot travels with its rows. After each read a watermark row is written to the signal table;
// when it comes through the replication stream, the capture emits the chunk there, in order with the
// changes. The sync decides "newer" by transaction visibility, so a chunk never overwrites a change its
// snapshot did not see. Progress (a cursor per table) is stored after every chunk: a crash resumes at
// the next chunk. Chunks wait while the sync is behind: a snapshot never buries the consumer; they wait
// too while the apply is paused or the source is loaded (from the process's control loop's snapshot).
// One-loan requests go first, also between the chunks of a table snapshot.
import { setTimeout as sleep } from 'node:timers/promises';
import type pg from 'pg';
import type { Logger } from '../runtime/logger.ts';
import type { Metrics } from '../runtime/metrics.ts';
import { errorMessage } from '../runtime/errors.ts';
import { readSyncs } from '../runtime/control-plane.ts';
import type { ControlLoop, ControlSnapshot } from '../runtime/control-loop.ts';
import { decideThrottle, describeThrottle, throttleMetricLabel, type ThrottleReason } from '../domain/throttle.ts';
import { CAPTURED_TABLES, isCapturedTable, type CapturedTable, type ChunkScope, type RawRow } from '../domain/change-event.ts';
import { readTableChunk, readLoanWithPayments } from '../../connectors/postgres/snapshot-reader.ts';
import { inTransaction } from '../../connectors/postgres/transaction.ts';
import { isTransientDbError } from '../../connectors/postgres/retry.ts';
import { nextSnapshotRequest, markRequestRunning, markRequestEmitted, failRequest, type SnapshotRequestRow } from '../runtime/snapshot-requests.ts';
import { SNAPSHOT_MAX_ATTEMPTS } from '../domain/snapshot-request.ts';
import type { CaptureService } from './capture-service.ts';

export interface SnapshotConfig {
  chunkSize: number;
  maxChunksInFlight: number;
  throttleLagSeconds: number;
  sourceLoadThreshold: number | undefined;
}

interface ReadChunk {
  table: CapturedTable;
  rows: RawRow[];
  scope: ChunkScope;
}

export class Snapshotter {
  private readonly pool: pg.Pool;
  private readonly capture: CaptureService;
  private readonly config: SnapshotConfig;
  private readonly logger: Logger;
  private readonly metrics: Metrics;
  private stopped = false;
  private loop: Promise<void> | undefined;
  private throttleReason: string | null = null;
  /** the process's control loop: the control row and the source load, read once a second */
  private readonly control: ControlLoop;
  /** its last snapshot (the apply's pause and the source load of the throttle decision) */
  private controlSnapshot: ControlSnapshot | undefined;
  private leaveControl: (() => void) | undefined;
  /** failed attempts in a row at a request, by id, and how far it had come (rows_emitted) */
  private readonly failures = new Map<string, { count: number; progress: string }>();
  /** chunks read and not yet acknowledged downstream (counted with those acknowledged and not applied) */
  private unacknowledged = 0;

  constructor(options: { pool: pg.Pool; capture: CaptureService; config: SnapshotConfig; control: ControlLoop; logger: Logger; metrics: Metrics }) {
    this.pool = options.pool;
    this.control = options.control;
    this.capture = options.capture;
    this.config = options.config;
    this.logger = options.logger;
    this.metrics = options.metrics;
  }

  getThrottleReason(): string | null {
    return this.throttleReason;
  }

  async start(): Promise<void> {
    this.leaveControl = await this.control.register((snapshot) => {
      this.controlSnapshot = snapshot;
    });
    this.loop = this.run();
  }

  /** Stops taking new chunks; a chunk waiting for its watermark is released by the capture's stop. */
  requestStop(): void {
    this.stopped = true;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.loop;
    this.leaveControl?.();
  }

  private async run(): Promise<void> {
    while (!this.stopped) {
      let req: SnapshotRequestRow | null = null;
      try {
        req = await this.nextRequest();
        if (!req) {
          await sleep(300);
          continue;
        }
        await this.process(req);
        this.failures.delete(req.id);
      } catch (err) {
        if (this.stopped) break;
        await this.attemptFailed(req, err);
        await sleep(1000);
      }
    }
  }

  /**
   * A failed attempt at a request is retried; SNAPSHOT_MAX_ATTEMPTS in a row that fail on something
   * other than an unreachable database fail the request, with the error recorded (the progress API and
   * the cutover checks show it; asking again serves it anew), and the snapshotter goes on to the next.
   */
  private async attemptFailed(req: SnapshotRequestRow | null, err: unknown): Promise<void> {
    const message = errorMessage(err);
    if (!req || isTransientDbError(err)) {
      this.logger.error({ err: message, request: req?.id }, 'snapshot step failed; retrying');
      return;
    }
    // failures in a row at the same place: a table snapshot that moved on since the last one starts over
    const progress = await this.pool
      .query<{ n: string }>('SELECT rows_emitted::text AS n FROM prestamos_cdc.snapshot_requests WHERE id = $1', [req.id])
      .then((r) => r.rows[0]?.n ?? '')
      .catch(() => '');
    const previous = this.failures.get(req.id);
    const attempts = previous && previous.progress === progress ? previous.count + 1 : 1;
    this.failures.set(req.id, { count: attempts, progress });
    if (attempts < SNAPSHOT_MAX_ATTEMPTS) {
      this.logger.error({ err: message, request: req.id, attempt: attempts, maxAttempts: SNAPSHOT_MAX_ATTEMPTS }, 'snapshot step failed; retrying');
      return;
    }
    this.failures.delete(req.id);
    const failed = await failRequest(this.pool, req.id, `${attempts} attempts failed; the last: ${message}`).catch(() => false);
    if (failed) this.logger.error({ err: message, request: req.id, scope: req.scope, tables: req.tables, target: req.target_id, attempts }, 'snapshot request failed');
  }

  private async nextRequest(): Promise<SnapshotRequestRow | null> {
    const capture = this.capture.getStatus();
    if (capture.state !== 'streaming') return null;
    return nextSnapshotRequest(this.pool, { loansOnly: false });
  }

  /**
   * One-loan requests (single/:id, the unchanged-TOAST re-syncs) are served between the chunks of a
   * table snapshot, and while it waits for capacity: an operator or the stream is waiting for them,
   * and a first load can take hours. Each is one short read of one loan.
   */
  private async serveLoanRequests(): Promise<void> {
    while (!this.stopped) {
      const req = await nextSnapshotRequest(this.pool, { loansOnly: true });
      if (!req) return;
      try {
        await this.process(req);
        this.failures.delete(req.id);
      } catch (err) {
        if (this.stopped) throw err;
        // the loan's failure is the loan request's, not the table snapshot's: counted against it, and
        // the table goes on (the loan is tried again at the next chunk, until it is served or failed)
        await this.attemptFailed(req, err);
        return;
      }
    }
  }

  private async process(req: SnapshotRequestRow): Promise<void> {
    await markRequestRunning(this.pool, req.id);
    // Chunks read by an earlier run that died before they were emitted: the cursor did not move past
    // them, so they are read again; the old ones would never complete (a marker that still arrives for
    // one is ignored, and the new read covers the same keys).
    const abandoned = await this.pool.query(
      `DELETE FROM prestamos_cdc.snapshot_chunks WHERE request_id = $1 AND emitted_at IS NULL AND applied_at IS NULL RETURNING id`,
      [req.id],
    );
    if (abandoned.rowCount) this.logger.warn({ request: req.id, chunks: abandoned.rowCount }, 'snapshot chunks of an interrupted run discarded; reading them again');
    if (req.scope === 'loan') {
      const id = req.target_id!;
      const read = await readLoanWithPayments(this.pool, id);
      // Payments that left the loan travel as their rows at the snapshot (under their new loan); only
      // the ones gone altogether are removed at the marker.
      await this.emit(req.id, read.snapshot, [
        { table: 'Prestamo', rows: read.loan ? [read.loan] : [], scope: { kind: 'loan', prestamoId: id, absentKeys: [] } },
        { table: 'PagoPrestamo', rows: [...read.payments, ...read.movedAway], scope: { kind: 'loan', prestamoId: id, absentKeys: read.absent } },
      ]);
      await this.recordProgress(req.id, 'Prestamo', { after: null, done: true }, read.payments.length + read.movedAway.length + (read.loan ? 1 : 0));
    } else {
      const tables = req.tables.filter(isCapturedTable).sort((a, b) => CAPTURED_TABLES.indexOf(a) - CAPTURED_TABLES.indexOf(b));
      for (const table of tables) {
        let cursor = req.cursor[table] ?? { after: null, done: false };
        if (cursor.total === undefined) {
          const c = await this.pool.query<{ n: string }>(`SELECT count(*)::text AS n FROM "${table}"`);
          cursor = { ...cursor, total: Number(c.rows[0]!.n), read: 0 };
        }
        // Up to SNAPSHOT_MAX_CHUNKS_IN_FLIGHT chunks read and not yet acknowledged downstream: the next
        // chunk is read while the previous ones are published (inline: applied). The cursor moves past
        // a chunk only once it and every chunk before it are acknowledged, so a crash resumes at the
        // first chunk not acknowledged.
        const inFlight: Promise<void>[] = [];
        let previous: Promise<unknown> = Promise.resolve();
        while (!cursor.done && !this.stopped) {
          await this.serveLoanRequests();
          while (inFlight.length >= Math.max(1, this.config.maxChunksInFlight)) await Promise.race(inFlight);
          await this.waitForCapacity();
          if (this.stopped) break;
          const read = await readTableChunk(this.pool, table, cursor.after, this.config.chunkSize);
          const lastKey = read.rows.length ? String(read.rows[read.rows.length - 1]!.id) : cursor.after;
          const done = read.rows.length < this.config.chunkSize;
          const scope: ChunkScope = { kind: 'range', afterKey: cursor.after, throughKey: done ? null : lastKey };
          const acknowledged = await this.startEmission(req.id, read.snapshot, [{ table, rows: read.rows, scope }]);
          cursor = { after: lastKey, done, total: cursor.total, read: (cursor.read ?? 0) + read.rows.length };
          const reached = cursor;
          const rows = read.rows.length;
          const step = Promise.all([previous, acknowledged]).then(async () => {
            await this.recordProgress(req.id, table, reached, rows);
            this.metrics.snapshotRows.inc({ table }, rows);
            this.metrics.snapshotProgress.set({ table }, reached.done ? 1 : reached.total ? Math.min(1, reached.read! / reached.total) : 0);
          });
          step.catch(() => undefined); // awaited below; a rejection must not go unhandled meanwhile
          const tracked = step.finally(() => {
            this.unacknowledged--;
            inFlight.splice(inFlight.indexOf(tracked), 1);
          });
          tracked.catch(() => undefined);
          this.unacknowledged++;
          inFlight.push(tracked);
          previous = step;
        }
        await Promise.allSettled(inFlight);
        await previous;
        if (this.stopped) return;
      }
      if (this.stopped) return;
    }
    // Emitted; applied once the sync has applied every chunk (whichever of the two comes last says so).
    await inTransaction(this.pool, (client) => markRequestEmitted(client, req.id));
    this.logger.info({ request: req.id, scope: req.scope, tables: req.tables, target: req.target_id }, 'snapshot request emitted');
  }

  /** Records the chunks, writes their watermark, and waits until the capture has emitted them. */
  private async emit(requestId: string, snapshot: string, chunks: ReadChunk[]): Promise<void> {
    await (await this.startEmission(requestId, snapshot, chunks));
  }

  /**
   * Records the chunks and writes their watermark; returns a promise that resolves once the capture has
   * emitted them and they are acknowledged downstream (and recorded as emitted).
   */
  private async startEmission(requestId: string, snapshot: string, chunks: ReadChunk[]): Promise<Promise<void>> {
    const ids: string[] = [];
    let emitted: Promise<void>[] = [];
    let lsn: string;
    try {
      lsn = await inTransaction(this.pool, async (client) => {
        // The capture emits the chunk when its watermark comes through the stream, and the WAL sender
        // sends only flushed WAL: with synchronous_commit off, this commit would reach it only at the WAL
        // writer's next round (wal_writer_delay, 200 ms by default) — per chunk, the largest wait of a
        // first load. One synchronous commit per chunk.
        await client.query('SET LOCAL synchronous_commit TO on');
        for (const c of chunks) {
          const keys = c.rows.map((r) => String(r.id));
          const r = await client.query<{ id: string }>(
            `INSERT INTO prestamos_cdc.snapshot_chunks (request_id, source_table, snapshot, first_key, last_key, row_count)
             VALUES ($1, $2, $3::pg_snapshot, $4, $5, $6) RETURNING id::text`,
            [requestId, c.table, snapshot, keys[0] ?? null, keys[keys.length - 1] ?? null, keys.length],
          );
          ids.push(r.rows[0]!.id);
        }
        const readTime = new Date().toISOString();
        emitted = chunks.map((c, i) =>
          this.capture.holdChunk({ chunkId: ids[i]!, requestId, table: c.table, rows: c.rows, scope: c.scope, snapshot, readTime }),
        );
        for (const e of emitted) e.catch(() => undefined); // awaited by the promise returned
        const wm = await client.query<{ lsn: string }>(
          `INSERT INTO prestamos_cdc.signal (kind, payload) VALUES ('snapshot-watermark', $1::jsonb) RETURNING pg_current_wal_lsn()::text AS lsn`,
          [JSON.stringify({ chunkIds: ids, requestId })],
        );
        return wm.rows[0]!.lsn;
      });
    } catch (err) {
      for (const id of ids) this.capture.releaseChunk(id, new Error('snapshot chunk abandoned'));
      await Promise.allSettled(emitted);
      throw err;
    }
    return Promise.all(emitted).then(async () => {
      await this.pool.query(
        `UPDATE prestamos_cdc.snapshot_chunks SET emitted_at = now(), high_lsn = coalesce(high_lsn, $2::pg_lsn) WHERE id = ANY($1::bigint[])`,
        [ids, lsn],
      );
    });
  }

  private async recordProgress(requestId: string, table: CapturedTable, cursor: object, rows: number): Promise<void> {
    await this.pool.query(
      `UPDATE prestamos_cdc.snapshot_requests SET cursor = jsonb_set(cursor, ARRAY[$2::text], $3::jsonb), rows_emitted = rows_emitted + $4 WHERE id = $1`,
      [requestId, table, JSON.stringify(cursor), rows],
    );
  }

  /**
   * Waits while the sync is behind (too many chunks emitted and not applied, or end-to-end lag above
   * THROTTLE_LAG_SECONDS), while the apply is paused, or while the source-load query is above its
   * threshold.
   */
  private async waitForCapacity(): Promise<void> {
    for (let round = 0; ; round++) {
      if (this.stopped) return;
      if (round > 0) await this.serveLoanRequests();
      const decided = await this.throttleDecision().catch((err) => ({ text: `throttle check failed: ${errorMessage(err)}`, reason: null }));
      if (decided.text !== this.throttleReason) {
        if (decided.text) this.logger.info({ reason: decided.text }, 'snapshot throttled');
        else this.logger.info('snapshot throttle lifted');
      }
      this.throttleReason = decided.text;
      this.capture.setSnapshotThrottle(decided.text);
      const label = throttleMetricLabel('snapshot', decided.reason);
      this.metrics.throttled.set({ reason: 'lag' }, label === 'lag' ? 1 : 0);
      this.metrics.throttled.set({ reason: 'snapshot_source_load' }, label === 'snapshot_source_load' ? 1 : 0);
      if (!decided.text) return;
      await sleep(200);
    }
  }

  /**
   * The collectors (chunks in flight, the syncs' reports; the control row and the source load from the
   * control loop's last snapshot) and one decision.
   */
  private async throttleDecision(): Promise<{ reason: ThrottleReason | null; text: string | null }> {
    const inFlight = await this.pool.query<{ n: string }>(
      `SELECT count(*)::text AS n FROM prestamos_cdc.snapshot_chunks WHERE emitted_at IS NOT NULL AND applied_at IS NULL`,
    );
    const chunksInFlight = Number(inFlight.rows[0]!.n) + this.unacknowledged;
    this.metrics.snapshotChunksInFlight.set(chunksInFlight);
    const snapshot = this.controlSnapshot;
    if (!snapshot) throw new Error('the control row has not been read yet');
    if (!snapshot.ok) throw snapshot.error;
    const { control } = snapshot;
    const syncs = await readSyncs(this.pool);
    const reason = decideThrottle(
      {
        chunksInFlight,
        applyPaused: control.paused ? (control.reason ?? '') : null,
        lagSeconds: Math.max(0, ...syncs.map((c) => c.status.lagSeconds)),
        sourceLoad: snapshot.sourceLoad ?? null,
      },
      { maxChunksInFlight: this.config.maxChunksInFlight, maxLagSeconds: this.config.throttleLagSeconds, sourceLoadThreshold: this.config.sourceLoadThreshold },
    );
    return { reason, text: reason ? describeThrottle(reason) : null };
  }
}
