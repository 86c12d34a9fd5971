// The capture: streams the slot (connectors/postgres/replication-stream.ts), hands each pgoutput
// message to the decoder (change-decoder.ts: events with commit LSN, xid, order and commit time),
// buffers the events and publishes them in batches (linger, backoff, a publisher replaced after a
// failure), and confirms a position to the slot only once every change before it has been
// acknowledged downstream (Kafka, or the inline apply). A transaction of any size flows through in
// bounded memory: the replication socket is paused while too many changes wait. It writes the
// heartbeats that keep the slot advancing when the captured tables are idle (and measure lag), and
// emits the snapshot chunks held in the rendezvous (chunk-rendezvous.ts) at their watermarks.
import type pg from 'pg';
import type { Logger } from '../runtime/logger.ts';
import type { Metrics } from '../runtime/metrics.ts';
import { errorMessage } from '../runtime/errors.ts';
import { reportComponent, removeComponent, readPipeline, writeHeartbeat } from '../runtime/control-plane.ts';
import { CapturedTablesWatch } from './captured-tables-watch.ts';
import { ChangeDecoder, type Decoded } from './change-decoder.ts';
import { ChunkRendezvous, type HeldChunk } from './chunk-rendezvous.ts';
import type { CaptureStatus } from '../domain/component-status.ts';
import { opOf, sourceTimeOf, type ChangeEvent } from '../domain/change-event.ts';
import type { EventPublisher } from '../domain/ports.ts';
import { parseLsn } from '../domain/lsn.ts';
import { ReplicationStream } from '../../connectors/postgres/replication-stream.ts';
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

type Buffered = Decoded;

/** Kafka mode: a publish still unacknowledged after this long makes the capture report itself as failing. */
export const PUBLISH_STALL_MS = 10_000;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export class CaptureService {
  private readonly options: CaptureServiceOptions;
  private stream: ReplicationStream | undefined;
  private readonly decoder: ChangeDecoder;
  private readonly chunks = new ChunkRendezvous();
  private pending: Buffered[] = [];
  private pendingEvents = 0;
  private inflight: Promise<void> | null = null;
  private flushScheduled = false;
  private lingerTimer: NodeJS.Timeout | undefined;
  private retryTimer: NodeJS.Timeout | undefined;
  private publishBackoffMs = 0;
  /** when the publish now in flight began (see CaptureConfig.publishStallMs) */
  private publishStartedAt = 0;
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
    this.options = options;
    this.capturedTables = new CapturedTablesWatch({ pool: options.pool, publication: options.config.publicationName, logger: options.logger, metrics: options.metrics });
    this.decoder = new ChangeDecoder({
      push: (item) => this.push(item),
      committed: () => this.scheduleFlush(),
      uncaptured: (schema, name) => this.capturedTables.uncapturedChange(schema, name),
      watermark: (chunkIds, commitLsn) => {
        for (const e of this.chunks.eventsAt(chunkIds, commitLsn)) this.push(e);
      },
    });
  }

  getStatus(): CaptureStatus {
    const status = { ...this.status, bufferedEvents: this.pendingEvents, streamPaused: this.stream?.isPaused() ?? false, capturedTableAlerts: this.capturedTables.current() };
    const waited = this.inflight ? Date.now() - this.publishStartedAt : 0;
    const stallMs = this.options.config.publishStallMs;
    if (stallMs !== undefined && waited > stallMs) {
      // an unreachable broker often does not fail a request: it never answers (until the request times out)
      status.publishFailing = true;
      status.lastPublishError = `no acknowledgement from Kafka for ${Math.round(waited / 1000)} s`;
    }
    return status;
  }

  /** Starts the capture loop (it waits for the migration to be started, then streams until stop()). */
  start(): void {
    this.options.metrics.componentUp.set({ component: 'capture' }, 1);
    this.timers.push(setInterval(() => void this.report(), 2000));
    this.timers.push(setInterval(() => void this.beat(), this.options.config.heartbeatIntervalMs));
    this.timers.push(setInterval(() => void this.observeSlot(), 5000));
    this.timers.push(setInterval(() => void (this.status.state === 'streaming' && this.capturedTables.check()), 5000));
    this.loop = this.run();
  }

  private async run(): Promise<void> {
    let attempt = 0;
    while (!this.stopping) {
      const pipeline = await readPipeline(this.options.pool).catch(() => null);
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
        this.options.logger.error({ err: errorMessage(err), attempt, delayMs: delay }, 'replication stream failed; reconnecting');
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
    this.decoder.reset(await currentXidHorizon(this.options.pool));
    const stream = new ReplicationStream({
      connectionString: this.options.databaseUrl,
      slotName: this.options.config.slotName,
      publicationName: this.options.config.publicationName,
      logger: this.options.logger,
    });
    this.stream = stream;
    try {
      await stream.start({
        onMessage: (m) => this.decoder.onMessage(m),
        onKeepalive: (walEnd, shouldRespond) => this.onKeepalive(walEnd, shouldRespond),
        onStarted: () => {
          this.status.state = 'streaming';
          void this.observeSlot();
          void this.capturedTables.check();
          this.options.logger.info({ slot: this.options.config.slotName }, 'streaming from the replication slot');
        },
      });
    } finally {
      await stream.stop();
      if (this.stream === stream) this.stream = undefined;
    }
    if (!this.stopping) throw new Error('replication connection ended');
  }

  // ---- events → buffer ------------------------------------------------------------------------------

  private push(item: Buffered): void {
    this.pending.push(item);
    if (!('boundary' in item)) {
      this.pendingEvents++;
      if (this.pendingEvents >= this.options.config.maxBufferedChanges && this.stream && !this.stream.isPaused()) {
        this.stream.pause();
        this.options.metrics.captureStreamPaused.set(1);
      }
    }
    if (this.pendingEvents >= this.options.config.publishBatchSize) this.scheduleFlush();
  }

  private onKeepalive(walEnd: string, shouldRespond: boolean): void {
    const idle = !this.decoder.inTransaction && this.pending.length === 0 && this.inflight === null;
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

  private scheduleFlush(): void {
    const full = this.pendingEvents >= this.options.config.publishBatchSize;
    if (full && this.lingerTimer) {
      // a full batch does not wait for the linger
      clearTimeout(this.lingerTimer);
      this.lingerTimer = undefined;
      this.flushScheduled = false;
    }
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    const linger = this.options.config.publishLingerMs ?? 0;
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
      if (batch.length >= this.options.config.publishBatchSize) break;
      batch.push(item);
    }
    const taken = this.pending.splice(0, i);
    this.pendingEvents -= batch.length;
    const stream = this.stream;
    this.publishStartedAt = Date.now();
    this.inflight = (async () => {
      try {
        if (batch.length > 0) await this.options.publisher.publish(batch);
      } catch (err) {
        // Keep them, in order, and try again: nothing after them has been confirmed.
        this.pending = [...taken, ...this.pending];
        this.pendingEvents += batch.length;
        this.status.publishFailing = true;
        this.status.lastPublishError = errorMessage(err);
        this.options.metrics.capturePublishFailures.inc();
        this.publishBackoffMs = Math.min(5000, Math.max(200, this.publishBackoffMs * 2));
        this.options.logger.warn({ err: errorMessage(err), retryInMs: this.publishBackoffMs, buffered: this.pendingEvents }, 'publish failed; retrying');
        this.retryTimer = setTimeout(() => {
          this.retryTimer = undefined;
          this.scheduleFlush();
        }, this.publishBackoffMs);
        return;
      }
      this.publishBackoffMs = 0;
      this.status.publishFailing = false;
      this.status.lastPublishedAt = new Date().toISOString();
      this.status.published += batch.length;
      const now = Date.now();
      for (const e of batch) {
        if ('table' in e) this.options.metrics.eventsPublished.inc({ table: e.table, op: opOf(e) });
        if (e.kind === 'change' || e.kind === 'heartbeat') this.options.metrics.sourceToPublishLag.observe(Math.max(0, now - Date.parse(sourceTimeOf(e))) / 1000);
      }
      this.chunks.acknowledged(batch);
      const crash = this.options.crash ?? NO_CRASH;
      if (batch.some((e) => e.kind === 'snapshot') && !batch.some((e) => e.kind === 'chunk-end')) crash.reached('capture.mid-snapshot-chunk');
      if (confirmAt) crash.reached('capture.after-ack-before-confirm');
      if (confirmAt && stream === this.stream) await this.confirm(confirmAt);
    })().finally(() => {
      this.inflight = null;
      this.options.metrics.captureBufferedEvents.set(this.pendingEvents);
      if (this.stream?.isPaused() && this.pendingEvents < this.options.config.maxBufferedChanges / 2) {
        this.stream.resume();
        this.options.metrics.captureStreamPaused.set(0);
      }
      if (this.pending.length > 0) this.scheduleFlush();
    });
    return this.inflight;
  }

  private async confirm(lsn: string): Promise<void> {
    if (!this.stream) return;
    if (this.status.confirmedLsn && parseLsn(lsn) <= parseLsn(this.status.confirmedLsn)) return;
    await this.stream.acknowledge(lsn);
    this.status.confirmedLsn = lsn;
    this.options.metrics.confirmedLsn.set(Number(parseLsn(lsn)));
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
    return this.chunks.hold(chunk);
  }

  releaseChunk(chunkId: string, reason: Error): void {
    this.chunks.release(chunkId, reason);
  }

  // ---- timers ---------------------------------------------------------------------------------------

  private async beat(): Promise<void> {
    if (this.status.state !== 'streaming') return;
    try {
      await writeHeartbeat(this.options.pool);
      this.decoder.setXidReference(await currentXidHorizon(this.options.pool));
    } catch (err) {
      this.options.logger.warn({ err: errorMessage(err) }, 'heartbeat write failed');
    }
  }

  private async observeSlot(): Promise<void> {
    try {
      const s = await slotStatus(this.options.pool, this.options.config.slotName);
      const labels = { slot: this.options.config.slotName };
      this.options.metrics.slotRetainedWalBytes.set(labels, s.retainedWalBytes);
      this.options.metrics.slotUnconfirmedBytes.set(labels, s.unconfirmedBytes);
      this.options.metrics.slotActive.set(labels, s.active ? 1 : 0);
    } catch (err) {
      this.options.logger.debug({ err: errorMessage(err) }, 'slot status unavailable');
    }
  }

  private async report(): Promise<void> {
    this.options.metrics.captureBufferedEvents.set(this.pendingEvents);
    await reportComponent(this.options.pool, this.options.instance, { component: 'capture', status: this.getStatus() }).catch(() => undefined);
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
      this.options.logger.warn({ buffered: this.pendingEvents, inFlight: this.inflight !== null }, 'stopping with changes not yet acknowledged downstream; the slot keeps them for the next start');
    }
    // a publish that failed during the drain must not be retried after the stop
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
    await this.stream?.stop();
    await this.loop?.catch(() => undefined);
    this.chunks.releaseAll(new Error('capture stopped'));
    this.status.state = 'stopped';
    this.options.metrics.componentUp.set({ component: 'capture' }, 0);
    await removeComponent(this.options.pool, 'capture', this.options.instance).catch(() => undefined);
  }
}
