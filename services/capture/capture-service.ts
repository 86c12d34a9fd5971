// The capture: streams the slot (connectors/postgres/replication-stream.ts), hands each pgoutput
// message to the decoder (change-decoder.ts: events with commit LSN, xid, order and commit time), puts
// the events in the publish buffer (publish-buffer.ts: batches, linger, backoff, the socket paused
// while too many changes wait, so a transaction of any size flows through in bounded memory), and
// confirms to the slot the positions the watermark allows (confirmation-watermark.ts: only once every
// change before it has been acknowledged downstream — Kafka, or the inline apply). It runs the
// heartbeat writer (heartbeat-writer.ts) while it streams, emits the snapshot chunks held in the
// rendezvous (chunk-rendezvous.ts) at their watermarks, reconnects with a backoff, and reports its status.
import { setTimeout as sleep } from 'node:timers/promises';
import type pg from 'pg';
import type { Logger } from '../runtime/logger.ts';
import type { Metrics } from '../runtime/metrics.ts';
import { errorMessage } from '../runtime/errors.ts';
import { reportComponent, removeComponent, readPipeline } from '../runtime/control-plane.ts';
import { CapturedTablesWatch } from './captured-tables-watch.ts';
import { ChangeDecoder } from './change-decoder.ts';
import { ChunkRendezvous, type HeldChunk } from './chunk-rendezvous.ts';
import { ConfirmationWatermark } from './confirmation-watermark.ts';
import { HeartbeatWriter } from './heartbeat-writer.ts';
import { PublishBuffer } from './publish-buffer.ts';
import type { CaptureStatus } from '../domain/component-status.ts';
import type { EventPublisher } from '../domain/ports.ts';
import { parseLsn } from '../domain/lsn.ts';
import { ReplicationStream } from '../../connectors/postgres/replication-stream.ts';
import type { CrashPoints } from '../runtime/crash-points.ts';
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

/** Kafka mode: a publish still unacknowledged after this long makes the capture report itself as failing. */
export const PUBLISH_STALL_MS = 10_000;

export class CaptureService {
  private readonly options: CaptureServiceOptions;
  private stream: ReplicationStream | undefined;
  private readonly decoder: ChangeDecoder;
  private readonly chunks = new ChunkRendezvous();
  private readonly buffer: PublishBuffer;
  private readonly watermark = new ConfirmationWatermark();
  private readonly heartbeats: HeartbeatWriter;
  private readonly timers: NodeJS.Timeout[] = [];
  private stopping = false;
  private loop: Promise<void> | undefined;
  private readonly status: Pick<CaptureStatus, 'state' | 'restarts' | 'snapshotThrottled'> = {
    state: 'waiting_for_start',
    restarts: 0,
    snapshotThrottled: null,
  };
  private readonly capturedTables: CapturedTablesWatch;

  constructor(options: CaptureServiceOptions) {
    this.options = options;
    this.capturedTables = new CapturedTablesWatch({ pool: options.pool, publication: options.config.publicationName, logger: options.logger, metrics: options.metrics });
    this.buffer = new PublishBuffer({
      publisher: options.publisher,
      config: options.config,
      logger: options.logger,
      metrics: options.metrics,
      crash: options.crash,
      acknowledged: (batch) => this.chunks.acknowledged(batch),
      confirm: (lsn) => this.confirm(lsn),
    });
    this.heartbeats = new HeartbeatWriter({
      pool: options.pool,
      intervalMs: options.config.heartbeatIntervalMs,
      logger: options.logger,
      active: () => this.status.state === 'streaming',
      afterBeat: async () => this.decoder.setXidReference(await currentXidHorizon(options.pool)),
    });
    this.decoder = new ChangeDecoder({
      push: (item) => this.buffer.push(item),
      committed: () => this.buffer.scheduleFlush(),
      uncaptured: (schema, name) => this.capturedTables.uncapturedChange(schema, name),
      watermark: (chunkIds, commitLsn) => {
        for (const e of this.chunks.eventsAt(chunkIds, commitLsn)) this.buffer.push(e);
      },
    });
  }

  getStatus(): CaptureStatus {
    return {
      ...this.status,
      confirmedLsn: this.watermark.confirmed,
      ...this.buffer.status(),
      streamPaused: this.stream?.isPaused() ?? false,
      capturedTableAlerts: this.capturedTables.current(),
    };
  }

  /** Starts the capture loop (it waits for the migration to be started, then streams until stop()). */
  start(): void {
    this.options.metrics.componentUp.set({ component: 'capture' }, 1);
    this.timers.push(setInterval(() => void this.report(), 2000));
    this.heartbeats.start();
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
    await this.buffer.settle();
    this.buffer.reset();
    this.decoder.reset(await currentXidHorizon(this.options.pool));
    const stream = new ReplicationStream({
      connectionString: this.options.databaseUrl,
      slotName: this.options.config.slotName,
      publicationName: this.options.config.publicationName,
      logger: this.options.logger,
    });
    this.stream = stream;
    this.buffer.attach(stream);
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
      if (this.stream === stream) {
        this.stream = undefined;
        this.buffer.attach(undefined);
      }
    }
    if (!this.stopping) throw new Error('replication connection ended');
  }

  // ---- confirmation ------------------------------------------------------------------------------

  private onKeepalive(walEnd: string, shouldRespond: boolean): void {
    const idle = !this.decoder.inTransaction && this.buffer.idle;
    const reply = this.watermark.keepalive(walEnd, shouldRespond, idle, Date.now());
    // nothing is waiting: every change before this position is durable downstream
    if (reply.confirm) void this.confirm(reply.confirm);
    if (reply.repeat) void this.stream?.acknowledge(reply.repeat);
  }

  private async confirm(lsn: string): Promise<void> {
    if (!this.stream) return;
    if (!this.watermark.advances(lsn)) return;
    await this.stream.acknowledge(lsn);
    this.watermark.confirmedAt(lsn);
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
    this.options.metrics.captureBufferedEvents.set(this.buffer.bufferedEvents);
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
    this.heartbeats.stop();
    this.stream?.pause();
    // Publish what is buffered, within the bound: a paused or throttled apply (inline) or an
    // unreachable broker leaves it unconfirmed in the slot, to be read again on the next start.
    await this.buffer.drain(Date.now() + timeoutMs);
    await this.stream?.stop();
    await this.loop?.catch(() => undefined);
    this.chunks.releaseAll(new Error('capture stopped'));
    this.status.state = 'stopped';
    this.options.metrics.componentUp.set({ component: 'capture' }, 0);
    await removeComponent(this.options.pool, 'capture', this.options.instance).catch(() => undefined);
  }
}
