// The capture: streams the slot, turns pgoutput messages into change events (with commit LSN, xid,
// order inside the transaction and commit time), publishes them in batches, and confirms a position to
// the slot only once every change before it has been acknowledged downstream (Kafka, or the inline
// apply). A transaction of any size flows through in bounded memory: the replication socket is paused
// while too many changes wait. Heartbeats written through the slot keep it advancing when the
// captured tables are idle and measure lag. Snapshot chunks are emitted into the same ordered stream
// at their high watermark.
import type pg from 'pg';
import type { Logger } from '../runtime/logger.ts';
import type { Metrics } from '../runtime/metrics.ts';
import { errorMessage } from '../runtime/errors.ts';
import { reportComponent, removeComponent, readPipeline } from '../runtime/control-plane.ts';
import { CapturedTablesWatch } from './captured-tables-watch.ts';
import type { CaptureStatus } from '../domain/component-status.ts';
import { isCapturedTable, opOf, sourceTimeOf, type ChangeEvent, type CapturedTable, type ChunkScope, type RawRow } from '../domain/change-event.ts';
import type { EventPublisher } from '../domain/ports.ts';
import { widenXid } from '../domain/visibility.ts';
import { parseLsn } from '../domain/lsn.ts';
import { ReplicationStream, type StreamMessage } from '../../connectors/postgres/replication-stream.ts';
import { NO_CRASH, type CrashPoints } from '../runtime/crash-points.ts';
import { currentXidHorizon, slotStatus } from '../../connectors/postgres/replication-setup.ts';

export interface CaptureConfig {
  slotName: string;
  publicationName: string;
  publishBatchSize: number;
  /**
   * How long a partial batch may wait for more changes before it is published (0: at once). Fewer,
   * larger produce requests: consumers then fetch, and apply, larger batches.
   */
  publishLingerMs?: number;
  maxBufferedChanges: number;
  heartbeatIntervalMs: number;
  /**
   * A publish unacknowledged for this long counts as failing (readiness false) before it fails: a
   * broker that stops answering often never fails a request quickly. Unset for the inline hand-off,
   * whose acknowledgement waits for the apply (which may be paused on purpose).
   */
  publishStallMs?: number;
}

export interface CaptureServiceOptions {
  databaseUrl: string;
  pool: pg.Pool;
  publisher: EventPublisher;
  config: CaptureConfig;
  logger: Logger;
  metrics: Metrics;
  instance: string;
  crash?: CrashPoints;
}

/** A snapshot chunk read and waiting for its watermark to come through the stream. */
export interface HeldChunk {
  chunkId: string;
  requestId: string;
  table: CapturedTable;
  rows: RawRow[];
  scope: ChunkScope;
  snapshot: string;
  readTime: string;
}

interface Boundary {
  boundary: string; // commit end LSN of a transaction whose changes precede it in the buffer
}
type Buffered = ChangeEvent | Boundary;

/** Kafka mode: a publish still unacknowledged after this long makes the capture report itself as failing. */
export const PUBLISH_STALL_MS = 10_000;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export class CaptureService {
  private readonly o: CaptureServiceOptions;
  private stream: ReplicationStream | undefined;
  private xidReference = 0n;
  private txn: { xid: bigint; commitLsn: string; commitTime: string; seq: number } | null = null;
  private pending: Buffered[] = [];
  private pendingEvents = 0;
  private inflight: Promise<void> | null = null;
  private flushScheduled = false;
  private lingerTimer: NodeJS.Timeout | undefined;
  private retryTimer: NodeJS.Timeout | undefined;
  private publishBackoffMs = 0;
  /** when the publish now in flight began (see CaptureConfig.publishStallMs) */
  private publishStartedAt = 0;
  private readonly held = new Map<string, { chunk: HeldChunk; resolve: () => void; reject: (e: Error) => void }>();
  private readonly timers: NodeJS.Timeout[] = [];
  private stopping = false;
  private loop: Promise<void> | undefined;
  private lastKeepaliveAck = 0;
  private readonly status: CaptureStatus = {
    state: 'waiting_for_start',
    confirmedLsn: null,
    bufferedEvents: 0,
    streamPaused: false,
    publishFailing: false,
    lastPublishError: null,
    lastPublishedAt: null,
    published: 0,
    restarts: 0,
    snapshotThrottled: null,
    capturedTableAlerts: [],
  };
  private readonly capturedTables: CapturedTablesWatch;

  constructor(options: CaptureServiceOptions) {
    this.o = options;
    this.capturedTables = new CapturedTablesWatch({ pool: options.pool, publication: options.config.publicationName, logger: options.logger, metrics: options.metrics });
  }

  getStatus(): CaptureStatus {
    const status = { ...this.status, bufferedEvents: this.pendingEvents, streamPaused: this.stream?.isPaused() ?? false, capturedTableAlerts: this.capturedTables.current() };
    const waited = this.inflight ? Date.now() - this.publishStartedAt : 0;
    const stallMs = this.o.config.publishStallMs;
    if (stallMs !== undefined && waited > stallMs) {
      // an unreachable broker often does not fail a request: it never answers (until the request times out)
      status.publishFailing = true;
      status.lastPublishError = `no acknowledgement from Kafka for ${Math.round(waited / 1000)} s`;
    }
    return status;
  }

  /** Starts the capture loop (it waits for the migration to be started, then streams until stop()). */
  start(): void {
    this.o.metrics.componentUp.set({ component: 'capture' }, 1);
    this.timers.push(setInterval(() => void this.report(), 2000));
    this.timers.push(setInterval(() => void this.beat(), this.o.config.heartbeatIntervalMs));
    this.timers.push(setInterval(() => void this.observeSlot(), 5000));
    this.timers.push(setInterval(() => void (this.status.state === 'streaming' && this.capturedTables.check()), 5000));
    this.loop = this.run();
  }

  private async run(): Promise<void> {
    let attempt = 0;
    while (!this.stopping) {
      const pipeline = await readPipeline(this.o.pool).catch(() => null);
      if (!pipeline) {
        this.status.state = 'waiting_for_start';
        await sleep(500);
        continue;
      }
      try {
        this.status.state = attempt === 0 ? 'connecting' : 'reconnecting';
        await this.streamOnce();
        attempt = 0;
      } catch (err) {
        if (this.stopping) break;
        attempt++;
        this.status.restarts++;
        const delay = Math.min(30_000, 500 * 2 ** Math.min(attempt, 6));
        this.o.logger.error({ err: errorMessage(err), attempt, delayMs: delay }, 'replication stream failed; reconnecting');
        this.status.state = 'reconnecting';
        await sleep(delay);
      }
    }
  }

  /** One replication connection, from the slot's confirmed position, until it ends. */
  private async streamOnce(): Promise<void> {
    // Whatever was buffered and not confirmed will be sent again by the server: start clean.
    await this.settleInflight();
    this.pending = [];
    this.pendingEvents = 0;
    this.txn = null;
    this.xidReference = await currentXidHorizon(this.o.pool);
    const stream = new ReplicationStream({
      connectionString: this.o.databaseUrl,
      slotName: this.o.config.slotName,
      publicationName: this.o.config.publicationName,
      logger: this.o.logger,
    });
    this.stream = stream;
    try {
      await stream.start({
        onMessage: (m) => this.onMessage(m),
        onKeepalive: (walEnd, shouldRespond) => this.onKeepalive(walEnd, shouldRespond),
        onStarted: () => {
          this.status.state = 'streaming';
          void this.observeSlot();
          void this.capturedTables.check();
          this.o.logger.info({ slot: this.o.config.slotName }, 'streaming from the replication slot');
        },
      });
    } finally {
      await stream.stop();
      if (this.stream === stream) this.stream = undefined;
    }
    if (!this.stopping) throw new Error('replication connection ended');
  }

  // ---- stream → events ------------------------------------------------------------------------------

  private onMessage(m: StreamMessage): void {
    switch (m.tag) {
      case 'begin':
        this.txn = { xid: widenXid(m.xid, this.xidReference), commitLsn: m.commitLsn, commitTime: m.commitTime.toISOString(), seq: 0 };
        return;
      case 'commit':
        this.push({ boundary: m.commitEndLsn });
        this.txn = null;
        this.kick();
        return;
      case 'insert':
      case 'update':
      case 'delete': {
        const rel = m.relation;
        if (rel.schema === 'prestamos_cdc') return this.onOwnTable(m);
        if (rel.schema !== 'public' || !isCapturedTable(rel.name)) return this.capturedTables.uncapturedChange(rel.schema, rel.name);
        if (!this.txn) return;
        const table = rel.name;
        if (m.tag === 'delete') {
          this.pushChange(table, 'd', String(m.key.id), null, []);
        } else if (m.tag === 'update' && m.oldKey && m.oldKey.id !== undefined && m.oldKey.id !== m.row.id) {
          // the primary key itself changed: the old row is gone, a new one exists
          this.pushChange(table, 'd', String(m.oldKey.id), null, []);
          this.pushChange(table, 'c', String(m.row.id), m.row, m.unchangedToast);
        } else {
          this.pushChange(table, m.tag === 'insert' ? 'c' : 'u', String(m.row.id), m.row, m.tag === 'update' ? m.unchangedToast : []);
        }
        return;
      }
      case 'truncate':
        if (!this.txn) return;
        for (const rel of m.relations) {
          if (rel.schema === 'prestamos_cdc') continue;
          if (rel.schema !== 'public' || !isCapturedTable(rel.name)) {
            this.capturedTables.uncapturedChange(rel.schema, rel.name);
            continue;
          }
          this.txn.seq++;
          this.push({ kind: 'truncate', table: rel.name, position: this.position() });
        }
        return;
      default:
        return;
    }
  }

  private position() {
    const t = this.txn!;
    return { lsn: t.commitLsn, seq: t.seq, xid: t.xid.toString(), commitTime: t.commitTime };
  }

  private pushChange(table: CapturedTable, op: 'c' | 'u' | 'd', key: string, after: RawRow | null, unchangedToast: string[]): void {
    this.txn!.seq++;
    this.push({ kind: 'change', table, op, key, after, unchangedToast, position: this.position() });
  }

  private onOwnTable(m: Extract<StreamMessage, { tag: 'insert' | 'update' | 'delete' }>): void {
    if (m.relation.name === 'heartbeat' && m.tag !== 'delete' && this.txn) {
      this.txn.seq++;
      this.push({ kind: 'heartbeat', position: this.position() });
    } else if (m.relation.name === 'signal' && m.tag === 'insert' && this.txn) {
      this.onSignal(String(m.row.kind), m.row.payload);
    }
  }

  /** A snapshot watermark: the chunks it names are emitted here, at this position in the stream. */
  private onSignal(kind: string, payload: unknown): void {
    if (kind !== 'snapshot-watermark') return;
    let chunkIds: string[] = [];
    try {
      chunkIds = (JSON.parse(String(payload)) as { chunkIds: string[] }).chunkIds ?? [];
    } catch {
      return;
    }
    for (const id of chunkIds) {
      const h = this.held.get(id);
      if (!h) continue; // read by an earlier run of the capture: the snapshotter reads it again
      const c = h.chunk;
      const position = { lsn: this.txn!.commitLsn, snapshot: c.snapshot, chunkId: c.chunkId, requestId: c.requestId, readTime: c.readTime };
      for (const row of c.rows) this.push({ kind: 'snapshot', table: c.table, key: String(row.id), after: row, position });
      this.push({ kind: 'chunk-end', table: c.table, scope: c.scope, keys: c.rows.map((r) => String(r.id)), markers: 1, markerIndex: 0, position });
    }
  }

  private push(item: Buffered): void {
    this.pending.push(item);
    if (!('boundary' in item)) {
      this.pendingEvents++;
      if (this.pendingEvents >= this.o.config.maxBufferedChanges && this.stream && !this.stream.isPaused()) {
        this.stream.pause();
        this.o.metrics.captureStreamPaused.set(1);
      }
    }
    if (this.pendingEvents >= this.o.config.publishBatchSize) this.kick();
  }

  private onKeepalive(walEnd: string, shouldRespond: boolean): void {
    const idle = this.txn === null && this.pending.length === 0 && this.inflight === null;
    if (idle && (Date.now() - this.lastKeepaliveAck > 1000 || shouldRespond)) {
      // Nothing is waiting: every change before this position is durable downstream.
      this.lastKeepaliveAck = Date.now();
      void this.confirm(walEnd);
    }
    // A requested reply is always sent, even when the position has not moved: the server ends a
    // connection that leaves it unanswered for wal_sender_timeout, and a fast shutdown waits for it.
    if (shouldRespond && this.status.confirmedLsn && !(idle && parseLsn(walEnd) > parseLsn(this.status.confirmedLsn))) {
      void this.stream?.acknowledge(this.status.confirmedLsn);
    }
  }

  // ---- publishing and acknowledgement ------------------------------------------------------------

  private kick(): void {
    const full = this.pendingEvents >= this.o.config.publishBatchSize;
    if (full && this.lingerTimer) {
      // a full batch does not wait for the linger
      clearTimeout(this.lingerTimer);
      this.lingerTimer = undefined;
      this.flushScheduled = false;
    }
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    const linger = this.o.config.publishLingerMs ?? 0;
    if (linger > 0 && !full && !this.stopping) {
      this.lingerTimer = setTimeout(() => {
        this.lingerTimer = undefined;
        this.flushScheduled = false;
        void this.flush();
      }, linger);
      return;
    }
    setImmediate(() => {
      this.flushScheduled = false;
      void this.flush();
    });
  }

  /** Waits for the publish in flight to end, or until `deadline` (ms since the epoch). */
  private async settleInflight(deadline = Infinity): Promise<void> {
    while (this.inflight && Date.now() < deadline) {
      let timer: NodeJS.Timeout | undefined;
      const expired = new Promise<void>((r) => (timer = setTimeout(r, Math.max(0, Math.min(deadline - Date.now(), 2 ** 31 - 1)))));
      await Promise.race([this.inflight.catch(() => undefined), expired]);
      clearTimeout(timer);
    }
  }

  private flush(): Promise<void> {
    if (this.inflight || this.retryTimer || this.pending.length === 0) return this.inflight ?? Promise.resolve();
    const batch: ChangeEvent[] = [];
    let confirmAt: string | null = null;
    let i = 0;
    for (; i < this.pending.length; i++) {
      const item = this.pending[i]!;
      if ('boundary' in item) {
        confirmAt = item.boundary;
        continue;
      }
      if (batch.length >= this.o.config.publishBatchSize) break;
      batch.push(item);
    }
    const taken = this.pending.splice(0, i);
    this.pendingEvents -= batch.length;
    const stream = this.stream;
    this.publishStartedAt = Date.now();
    this.inflight = (async () => {
      try {
        if (batch.length > 0) await this.o.publisher.publish(batch);
      } catch (err) {
        // Keep them, in order, and try again: nothing after them has been confirmed.
        this.pending = [...taken, ...this.pending];
        this.pendingEvents += batch.length;
        this.status.publishFailing = true;
        this.status.lastPublishError = errorMessage(err);
        this.o.metrics.capturePublishFailures.inc();
        this.publishBackoffMs = Math.min(5000, Math.max(200, this.publishBackoffMs * 2));
        this.o.logger.warn({ err: errorMessage(err), retryInMs: this.publishBackoffMs, buffered: this.pendingEvents }, 'publish failed; retrying');
        this.retryTimer = setTimeout(() => {
          this.retryTimer = undefined;
          this.kick();
        }, this.publishBackoffMs);
        return;
      }
      this.publishBackoffMs = 0;
      this.status.publishFailing = false;
      this.status.lastPublishedAt = new Date().toISOString();
      this.status.published += batch.length;
      const now = Date.now();
      for (const e of batch) {
        if ('table' in e) this.o.metrics.eventsPublished.inc({ table: e.table, op: opOf(e) });
        if (e.kind === 'change' || e.kind === 'heartbeat') this.o.metrics.sourceToPublishLag.observe(Math.max(0, now - Date.parse(sourceTimeOf(e))) / 1000);
        if (e.kind === 'chunk-end') {
          const h = this.held.get(e.position.chunkId);
          if (h) {
            this.held.delete(e.position.chunkId);
            h.resolve();
          }
        }
      }
      const crash = this.o.crash ?? NO_CRASH;
      if (batch.some((e) => e.kind === 'snapshot') && !batch.some((e) => e.kind === 'chunk-end')) crash.reached('capture.mid-snapshot-chunk');
      if (confirmAt) crash.reached('capture.after-ack-before-confirm');
      if (confirmAt && stream === this.stream) await this.confirm(confirmAt);
    })().finally(() => {
      this.inflight = null;
      this.o.metrics.captureBufferedEvents.set(this.pendingEvents);
      if (this.stream?.isPaused() && this.pendingEvents < this.o.config.maxBufferedChanges / 2) {
        this.stream.resume();
        this.o.metrics.captureStreamPaused.set(0);
      }
      if (this.pending.length > 0) this.kick();
    });
    return this.inflight;
  }

  private async confirm(lsn: string): Promise<void> {
    if (!this.stream) return;
    if (this.status.confirmedLsn && parseLsn(lsn) <= parseLsn(this.status.confirmedLsn)) return;
    await this.stream.acknowledge(lsn);
    this.status.confirmedLsn = lsn;
    this.o.metrics.confirmedLsn.set(Number(parseLsn(lsn)));
  }

  /** The snapshotter says why it waits (or null), so that the capture's status reports it. */
  setSnapshotThrottle(reason: string | null): void {
    this.status.snapshotThrottled = reason;
  }

  // ---- snapshot chunks --------------------------------------------------------------------------------

  /**
   * Holds a chunk read by the snapshotter until its watermark comes through the stream, then emits it
   * there. Resolves once its rows and markers are acknowledged downstream.
   */
  holdChunk(chunk: HeldChunk): Promise<void> {
    return new Promise<void>((resolve, reject) => this.held.set(chunk.chunkId, { chunk, resolve, reject }));
  }

  releaseChunk(chunkId: string, reason: Error): void {
    const h = this.held.get(chunkId);
    if (h) {
      this.held.delete(chunkId);
      h.reject(reason);
    }
  }

  // ---- timers ---------------------------------------------------------------------------------------

  private async beat(): Promise<void> {
    if (this.status.state !== 'streaming') return;
    try {
      await this.o.pool.query(`UPDATE prestamos_cdc.heartbeat SET seq = seq + 1, beat_at = clock_timestamp() WHERE id = 1`);
      this.xidReference = await currentXidHorizon(this.o.pool);
    } catch (err) {
      this.o.logger.warn({ err: errorMessage(err) }, 'heartbeat write failed');
    }
  }

  private async observeSlot(): Promise<void> {
    try {
      const s = await slotStatus(this.o.pool, this.o.config.slotName);
      const labels = { slot: this.o.config.slotName };
      this.o.metrics.slotRetainedWalBytes.set(labels, s.retainedWalBytes);
      this.o.metrics.slotUnconfirmedBytes.set(labels, s.unconfirmedBytes);
      this.o.metrics.slotActive.set(labels, s.active ? 1 : 0);
    } catch (err) {
      this.o.logger.debug({ err: errorMessage(err) }, 'slot status unavailable');
    }
  }

  private async report(): Promise<void> {
    this.o.metrics.captureBufferedEvents.set(this.pendingEvents);
    await reportComponent(this.o.pool, this.o.instance, { component: 'capture', status: this.getStatus() }).catch(() => undefined);
  }

  /**
   * Graceful stop: stop reading, publish what is buffered, confirm what is acknowledged, close the
   * replication connection. Changes of a transaction not yet committed downstream are simply sent
   * again by the server on the next start (the sync's version guard makes that harmless).
   */
  async stop(timeoutMs = 30_000): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    for (const t of this.timers) clearInterval(t);
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
    if (this.lingerTimer) clearTimeout(this.lingerTimer);
    this.lingerTimer = undefined;
    this.flushScheduled = false;
    this.stream?.pause();
    const deadline = Date.now() + timeoutMs;
    // Publish what is buffered, within the bound: a paused or throttled apply (inline) or an
    // unreachable broker leaves it unconfirmed in the slot, to be read again on the next start.
    while ((this.pending.length > 0 || this.inflight) && Date.now() < deadline && !this.status.publishFailing) {
      if (!this.inflight) void this.flush();
      await this.settleInflight(deadline);
      if (this.status.publishFailing) break;
    }
    if (this.pending.length > 0 || this.inflight) {
      this.o.logger.warn({ buffered: this.pendingEvents, inFlight: this.inflight !== null }, 'stopping with changes not yet acknowledged downstream; the slot keeps them for the next start');
    }
    // a publish that failed during the drain must not be retried after the stop
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
    await this.stream?.stop();
    await this.loop?.catch(() => undefined);
    for (const id of [...this.held.keys()]) this.releaseChunk(id, new Error('capture stopped'));
    this.status.state = 'stopped';
    this.o.metrics.componentUp.set({ component: 'capture' }, 0);
    await removeComponent(this.o.pool, 'capture', this.o.instance).catch(() => undefined);
  }
}
