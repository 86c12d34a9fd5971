// The capture's publish buffer: the decoded events wait here, with their transactions' commit
// boundaries, and are published in batches of at most `publishBatchSize`, one produce request at a
// time and in order. A partial batch may wait `publishLingerMs` for more changes (a full one goes at
// once). A failed publish keeps its events, in order, at the front and is tried again after a backoff
// (200 ms doubling to 5 s); nothing after them is confirmed meanwhile. Once a batch is acknowledged its
// last boundary is handed to `confirm` (confirmation-watermark.ts says which), if the replication
// connection it was read from is still the current one. While `maxBufferedChanges` events wait, the
// connection is paused until half of them have been acknowledged. Its status: failing or not, the last
// error, and — when `publishStallMs` is set — a publish unacknowledged for longer counts as failing.
import type { Logger } from '../runtime/logger.ts';
import type { Metrics } from '../runtime/metrics.ts';
import { errorMessage } from '../runtime/errors.ts';
import { NO_CRASH, type CrashPoints } from '../runtime/crash-points.ts';
import { opOf, sourceTimeOf, type ChangeEvent } from '../domain/change-event.ts';
import type { EventPublisher } from '../domain/ports.ts';
import type { Decoded } from './change-decoder.ts';
import { cutBatch } from './confirmation-watermark.ts';

export interface PublishBufferConfig {
  publishBatchSize: number;
  /** how long a partial batch may wait for more changes before it is published (0: at once) */
  publishLingerMs?: number | undefined;
  maxBufferedChanges: number;
  /** a publish unacknowledged for this long counts as failing (unset: never) */
  publishStallMs?: number | undefined;
}

/** The replication connection's flow control, as the buffer needs it. */
export interface StreamFlow {
  pause(): void;
  resume(): void;
  isPaused(): boolean;
}

export interface PublishBufferOptions {
  publisher: Pick<EventPublisher, 'publish'>;
  config: PublishBufferConfig;
  logger: Logger;
  metrics: Metrics;
  crash?: CrashPoints | undefined;
  /** a batch was acknowledged downstream (before its boundary is confirmed) */
  acknowledged(batch: ChangeEvent[]): void;
  /** confirms a commit boundary whose changes, and everything before them, are acknowledged */
  confirm(lsn: string): Promise<void>;
}

export interface PublishStatus {
  bufferedEvents: number;
  publishFailing: boolean;
  lastPublishError: string | null;
  lastPublishedAt: string | null;
  published: number;
}

export class PublishBuffer {
  private readonly options: PublishBufferOptions;
  private pending: Decoded[] = [];
  private pendingEvents = 0;
  private inflight: Promise<void> | null = null;
  private flushScheduled = false;
  private lingerTimer: NodeJS.Timeout | undefined;
  private retryTimer: NodeJS.Timeout | undefined;
  private backoffMs = 0;
  /** when the publish now in flight began (see publishStallMs) */
  private publishStartedAt = 0;
  private closing = false;
  private stream: StreamFlow | undefined;
  private failing = false;
  private lastError: string | null = null;
  private lastPublishedAt: string | null = null;
  private published = 0;

  constructor(options: PublishBufferOptions) {
    this.options = options;
  }

  /** The connection the events now come from (undefined: none): paused when too many wait. */
  attach(stream: StreamFlow | undefined): void {
    this.stream = stream;
  }

  /** Events waiting (boundaries not counted). */
  get bufferedEvents(): number {
    return this.pendingEvents;
  }

  /** Nothing buffered, nothing in flight. */
  get idle(): boolean {
    return this.pending.length === 0 && this.inflight === null;
  }

  /** Whether the last publish failed (the stall of one in flight aside). */
  get publishFailing(): boolean {
    return this.failing;
  }

  status(): PublishStatus {
    const status: PublishStatus = { bufferedEvents: this.pendingEvents, publishFailing: this.failing, lastPublishError: this.lastError, lastPublishedAt: this.lastPublishedAt, published: this.published };
    const waited = this.inflight ? Date.now() - this.publishStartedAt : 0;
    const stallMs = this.options.config.publishStallMs;
    if (stallMs !== undefined && waited > stallMs) {
      // an unreachable broker often does not fail a request: it never answers (until the request times out)
      status.publishFailing = true;
      status.lastPublishError = `no acknowledgement from Kafka for ${Math.round(waited / 1000)} s`;
    }
    return status;
  }

  push(item: Decoded): void {
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

  /** A new replication connection: what was buffered and not confirmed the server sends again. Call with nothing in flight (settle()). */
  reset(): void {
    this.pending = [];
    this.pendingEvents = 0;
  }

  /** Publishes soon: at once when a batch is full (or no linger is set), else after the linger. */
  scheduleFlush(): void {
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
    if (linger > 0 && !full && !this.closing) {
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
  async settle(deadline = Infinity): Promise<void> {
    while (this.inflight && Date.now() < deadline) {
      let timer: NodeJS.Timeout | undefined;
      const expired = new Promise<void>((r) => (timer = setTimeout(r, Math.max(0, Math.min(deadline - Date.now(), 2 ** 31 - 1)))));
      await Promise.race([this.inflight.catch(() => undefined), expired]);
      clearTimeout(timer);
    }
  }

  /**
   * The stop: no more lingering or retries; what is buffered is published until `deadline` or the
   * first failure (a paused apply inline, or an unreachable broker, leaves it unconfirmed in the slot,
   * to be read again on the next start). True when nothing is left unacknowledged.
   */
  async drain(deadline: number): Promise<boolean> {
    this.closing = true;
    this.cancelRetry();
    if (this.lingerTimer) clearTimeout(this.lingerTimer);
    this.lingerTimer = undefined;
    this.flushScheduled = false;
    while (!this.idle && Date.now() < deadline && !this.failing) {
      if (!this.inflight) void this.flush();
      await this.settle(deadline);
      if (this.failing) break;
    }
    const drained = this.idle;
    if (!drained) {
      this.options.logger.warn({ buffered: this.pendingEvents, inFlight: this.inflight !== null }, 'stopping with changes not yet acknowledged downstream; the slot keeps them for the next start');
    }
    // a publish that failed during the drain must not be retried after the stop
    this.cancelRetry();
    return drained;
  }

  private cancelRetry(): void {
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
  }

  private flush(): Promise<void> {
    if (this.inflight || this.retryTimer || this.pending.length === 0) return this.inflight ?? Promise.resolve();
    const { events: batch, taken: count, confirmAt } = cutBatch(this.pending, this.options.config.publishBatchSize);
    const taken = this.pending.splice(0, count);
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
        this.failing = true;
        this.lastError = errorMessage(err);
        this.options.metrics.capturePublishFailures.inc();
        this.backoffMs = Math.min(5000, Math.max(200, this.backoffMs * 2));
        this.options.logger.warn({ err: errorMessage(err), retryInMs: this.backoffMs, buffered: this.pendingEvents }, 'publish failed; retrying');
        this.retryTimer = setTimeout(() => {
          this.retryTimer = undefined;
          this.scheduleFlush();
        }, this.backoffMs);
        return;
      }
      this.backoffMs = 0;
      this.failing = false;
      this.lastPublishedAt = new Date().toISOString();
      this.published += batch.length;
      const now = Date.now();
      for (const e of batch) {
        if ('table' in e) this.options.metrics.eventsPublished.inc({ table: e.table, op: opOf(e) });
        if (e.kind === 'change' || e.kind === 'heartbeat') this.options.metrics.sourceToPublishLag.observe(Math.max(0, now - Date.parse(sourceTimeOf(e))) / 1000);
      }
      this.options.acknowledged(batch);
      const crash = this.options.crash ?? NO_CRASH;
      if (batch.some((e) => e.kind === 'snapshot') && !batch.some((e) => e.kind === 'chunk-end')) crash.reached('capture.mid-snapshot-chunk');
      if (confirmAt) crash.reached('capture.after-ack-before-confirm');
      if (confirmAt && stream === this.stream) await this.options.confirm(confirmAt);
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
}
