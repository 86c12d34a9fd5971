// The sync: the batch runner. It reads change events (a Kafka consumer group, or the inline hand-off),
// decodes and validates them, drops what the group already applied (offset-tracker.ts,
// offset-store.ts; a gap or a restart of the offsets is offset-incidents.ts'), applies the rows in
// batched transactions with the offsets in the same transaction (applier.ts), and the truncates
// (truncate-apply.ts) and snapshot markers (snapshot-markers.ts) in stream order between them. Through
// Kafka it handles several partitions at once: the rows their batches bring at the same time share a
// transaction (group-commit.ts), within a bound on the events held decoded (event-budget.ts). A
// message that cannot be applied (poison-isolation.ts finds it when the database refuses a run) goes
// to the dead-letter topic and the failed-records table and the rest flows on; above the error-rate
// threshold (error-rate.ts) the apply pauses, and says so; a step that keeps failing on the same batch
// pauses it too (apply-steps.ts). On each snapshot of the process's control loop (sync-control.ts) it
// follows the shared control row (pause/resume) and the source-load throttle, and reports its status.
import { setTimeout as sleep } from 'node:timers/promises';
import type pg from 'pg';
import type { Logger } from '../runtime/logger.ts';
import type { Metrics } from '../runtime/metrics.ts';
import { ValidationError, errorMessage } from '../runtime/errors.ts';
import type { SyncStatus } from '../domain/component-status.ts';
import { removeComponent } from '../runtime/control-plane.ts';
import type { ControlLoop } from '../runtime/control-loop.ts';
import { SyncControl } from './sync-control.ts';
import { createSnapshotRequest } from '../runtime/snapshot-requests.ts';
import { SnapshotMarkers } from './snapshot-markers.ts';
import type { ChangeEvent, CapturedTable } from '../domain/change-event.ts';
import { opOf, sourceTimeOf, CAPTURED_TABLES } from '../domain/change-event.ts';
import type { EventSource, EventDecoder, DeadLetterSink, IncomingBatch, IncomingMessage } from '../domain/ports.ts';
import { Applier, prepareChange } from './applier.ts';
import { ErrorRateWindow } from './error-rate.ts';
import * as store from './shadow-store.ts';
import { isTransientDbError } from '../../connectors/postgres/retry.ts';
import { NO_CRASH, type CrashPoints } from '../runtime/crash-points.ts';
import type { FailedRecordInput } from './shadow-store.ts';
import { planBatch, appliedThrough, type TrackedMessage, type AppliedOffsets } from './offset-tracker.ts';
import { readAppliedOffsetsOf, saveAppliedOffsets, type OffsetUpdate } from './offset-store.ts';
import { OffsetIncidents } from './offset-incidents.ts';
import { APPLY_STEPS, ApplyStepError, StuckBatches, failedPosition, stepTransaction, type ApplyStep } from './apply-steps.ts';
import { isolateRefused, type IsolatedItem, type Refused } from './poison-isolation.ts';
import { applyTruncate } from './truncate-apply.ts';
import { GroupCommit, type Settled } from './group-commit.ts';
import { EventBudget } from './event-budget.ts';
import { isLsn } from '../domain/lsn.ts';

export interface SyncConfig {
  applyBatchSize: number;
  /** failed attempts at the same batch position (other than transient database errors) before the apply pauses */
  maxApplyAttempts: number;
  heartbeatIntervalMs: number;
  errorRate: { threshold: number; windowSeconds: number; minEvents: number };
  throttle: { sourceLoadThreshold: number | undefined };
}

export interface SyncServiceOptions {
  pool: pg.Pool;
  source: EventSource;
  /** null inline: events arrive decoded */
  decoder: EventDecoder | null;
  deadLetter: DeadLetterSink | null;
  /** consumer group whose offsets are kept in the database; null inline */
  groupId: string | null;
  /** topic → table, to know which table a gap belongs to */
  topicTables: Map<string, CapturedTable>;
  config: SyncConfig;
  /** the process's control loop (the control row and the source load, read once a second) */
  control: ControlLoop;
  logger: Logger;
  metrics: Metrics;
  instance: string;
  crash?: CrashPoints;
}

/** A message of a batch, decoded: its event and prepared change, or why it cannot be applied. */
interface Item extends IsolatedItem {
  message: IncomingMessage;
  event: ChangeEvent | null;
}

/** A run of row changes of one partition's batch, to apply with what other partitions hand in. */
interface PartitionRows {
  batch: IncomingBatch;
  items: Item[];
}

const partitionKey = (topic: string, partition: number) => `${topic}\u0000${partition}`;

export class SyncService {
  private readonly options: SyncServiceOptions;
  private readonly applier: Applier;
  private readonly markers: SnapshotMarkers;
  private readonly errorWindow: ErrorRateWindow;
  private readonly control: SyncControl;
  private leaveControl: (() => void) | undefined;
  private running: Promise<void> | undefined;
  /** partition ("topic\u0000partition") → commit time (ms) of the newest heartbeat applied from it */
  private readonly heartbeats = new Map<string, number>();
  private lastEventLagMs = 0;
  private stopping = false;
  /** the batches being handled (several partitions at once through Kafka) */
  private readonly inflightBatches = new Set<Promise<void>>();
  /** rows of the partitions handled at once, applied in shared transactions */
  private readonly rowApplies: GroupCommit<PartitionRows, number>;
  /** bounds the events of the batches handled at once (decoded and held until applied) */
  private readonly eventBudget: EventBudget;
  /** the applied offsets of the partitions handled at once, read in one statement */
  private readonly offsetReads: GroupCommit<{ topic: string; partition: number }, AppliedOffsets>;
  /** failed attempts at the same position, per partition (APPLY_MAX_ATTEMPTS, then the apply pauses) */
  private readonly stuck: StuckBatches;
  /** gaps and restarts of the offsets (through Kafka; null inline) */
  private readonly incidents: OffsetIncidents | null;
  private readonly status: SyncStatus = {
    state: 'starting',
    paused: false,
    pausedReason: null,
    throttled: false,
    throttleReason: null,
    lagSeconds: 0,
    lastAppliedAt: null,
    applied: 0,
    failed: 0,
    errorRatio: 0,
    gaps: [],
    offsetRestarts: [],
    lastError: null,
    lastHeartbeatAt: null,
    groupId: null,
  };

  constructor(options: SyncServiceOptions) {
    this.options = options;
    this.applier = new Applier({ pool: options.pool, logger: options.logger, metrics: options.metrics });
    this.markers = new SnapshotMarkers({ applier: this.applier, logger: options.logger, instance: options.instance, isStopping: () => this.stopping });
    this.errorWindow = new ErrorRateWindow(options.config.errorRate);
    this.stuck = new StuckBatches(options.config.maxApplyAttempts);
    this.incidents = options.groupId === null ? null : new OffsetIncidents({ applier: this.applier, markers: this.markers, groupId: options.groupId, topicTables: options.topicTables, logger: options.logger, metrics: options.metrics });
    this.eventBudget = new EventBudget(options.config.applyBatchSize);
    this.rowApplies = new GroupCommit({ run: (parts) => this.applyRowsOfPartitions(parts), weight: (p) => p.items.length, maxWeight: options.config.applyBatchSize });
    this.offsetReads = new GroupCommit({
      run: async (partitions) => {
        const read = await readAppliedOffsetsOf(options.pool, options.groupId!, partitions);
        return partitions.map((p) => ({ ok: true, value: read.get(partitionKey(p.topic, p.partition))! }));
      },
    });
    this.status.groupId = options.groupId;
    this.control = new SyncControl({
      pool: options.pool,
      instance: options.instance,
      source: options.source,
      status: this.status,
      sourceLoadThreshold: options.config.throttle.sourceLoadThreshold,
      logger: options.logger,
      metrics: options.metrics,
      onResume: () => {
        this.errorWindow.reset();
        this.stuck.clear();
      },
      errorRatio: () => this.errorWindow.totals().ratio,
      lagSeconds: () => this.currentLagSeconds(),
      getStatus: () => this.getStatus(),
    });
    // every series with known labels exists from the start
    for (const topic of options.topicTables.keys()) {
      options.metrics.offsetGaps.inc({ topic }, 0);
      options.metrics.gapMessagesLost.inc({ topic }, 0);
      options.metrics.offsetRestarts.inc({ topic }, 0);
    }
    for (const step of APPLY_STEPS) options.metrics.applyAttemptsFailed.inc({ step }, 0);
  }

  getStatus(): SyncStatus {
    const horizon = this.heartbeatHorizon();
    return {
      ...this.status,
      lagSeconds: this.currentLagSeconds(),
      lastHeartbeatAt: horizon === null ? null : new Date(horizon).toISOString(),
      gaps: this.incidents?.gaps ?? [],
      offsetRestarts: this.incidents?.restarts ?? [],
    };
  }

  /** The oldest of the newest heartbeats applied on the partitions this sync owns (null: not all seen). */
  private heartbeatHorizon(): number | null {
    const assigned = this.options.source.assignment();
    if (assigned === null) return this.heartbeats.size ? Math.min(...this.heartbeats.values()) : null;
    if (assigned.size === 0) return null;
    let min = Infinity;
    for (const tp of assigned) {
      const t = this.heartbeats.get(tp);
      if (t === undefined) return null;
      min = Math.min(min, t);
    }
    return min;
  }

  async start(): Promise<void> {
    this.leaveControl = await this.options.control.register((snapshot) => this.control.onSnapshot(snapshot));
    this.status.state = this.controlPaused ? 'paused' : 'running';
    this.options.metrics.componentUp.set({ component: 'sync' }, 1);
    this.running = this.options.source.run((batch) => this.guardedBatch(batch)).catch((err) => {
      this.status.state = 'failed';
      this.status.lastError = errorMessage(err);
      this.options.logger.error({ err }, 'sync stopped on an error');
    });
  }

  /** Drains: the batch in progress finishes and commits, then the consumer leaves. */
  async stop(): Promise<void> {
    this.stopping = true;
    this.leaveControl?.();
    await this.options.source.stop();
    await this.running;
    // a source may hand over one more batch while it leaves its group: it is refused, and the one
    // being applied finishes
    await Promise.allSettled([...this.inflightBatches]);
    this.status.state = 'stopped';
    this.options.metrics.componentUp.set({ component: 'sync' }, 0);
    await removeComponent(this.options.pool, 'sync', this.options.instance).catch(() => undefined);
  }

  // ---- lag ---------------------------------------------------------------------------------------

  /**
   * End-to-end lag now: the lag of the last change applied, or — when the heartbeats written through
   * the slot stop arriving on some partition this sync owns — how long they are overdue. An idle
   * pipeline reads ~0; a stuck one (or one stuck partition) grows.
   */
  private currentLagSeconds(): number {
    const horizon = this.heartbeatHorizon();
    const overdue = horizon === null ? 0 : Date.now() - horizon - 2 * this.options.config.heartbeatIntervalMs;
    return Math.max(this.lastEventLagMs, overdue, 0) / 1000;
  }

  // ---- control ------------------------------------------------------------------------------------

  /** Paused by the control row or by this sync (control: sync-control.ts). */
  private get controlPaused(): boolean {
    return this.control.paused;
  }

  // ---- batches ---------------------------------------------------------------------------------------

  private async guardedBatch(batch: IncomingBatch): Promise<void> {
    // stopping: leave it unapplied and unresolved; it is delivered again to whoever consumes next
    if (this.stopping) return;
    // the batch's share of the events held decoded at once (event-budget.ts)
    const release = await this.eventBudget.acquire(batch.messages.length);
    if (this.stopping) return release();
    let resolvedThrough: string | null = null;
    const tracked: IncomingBatch = {
      ...batch,
      shouldStop: () => this.stopping || (batch.shouldStop?.() ?? false),
      resolve: batch.resolve && ((offset) => {
        resolvedThrough = offset;
        batch.resolve!(offset);
      }),
    };
    const p = this.handleBatch(tracked).finally(release);
    this.inflightBatches.add(p);
    try {
      await p;
      this.stuck.succeeded(batch);
    } catch (err) {
      await this.batchFailed(batch, resolvedThrough, err);
    } finally {
      this.inflightBatches.delete(p);
    }
  }

  /**
   * A batch that failed on something other than a transient database error (a dead-letter send, a
   * truncate or a snapshot marker the database refuses…) is retried with a short backoff; after
   * APPLY_MAX_ATTEMPTS failed attempts at the same position the apply pauses, with the reason in the
   * shared control row (API), the log and the metrics. A transient database error is retried as before
   * (readiness and prestamos_cdc_apply_retries_total say so). Kafka: the unresolved rest of the batch is
   * fetched again; inline, the error goes back to the capture, which publishes the batch again.
   */
  private async batchFailed(batch: IncomingBatch, resolvedThrough: string | null, err: unknown): Promise<void> {
    if (this.stopping || isTransientDbError(err)) throw err;
    const position = failedPosition(batch, resolvedThrough);
    const failure = this.stuck.failed(batch, position, err);
    this.options.metrics.applyAttemptsFailed.inc({ step: failure.step });
    const max = this.options.config.maxApplyAttempts;
    this.status.lastError = `${failure.step} failed on ${failure.where} (attempt ${failure.attempt} of ${max}): ${errorMessage(failure.cause)}`;
    this.options.logger.error({ step: failure.step, topic: batch.topic, partition: batch.partition, position, attempt: failure.attempt, maxAttempts: max, err: errorMessage(failure.cause) }, 'apply step failed; the batch is retried');
    if ('pause' in failure.decision) this.pauseApply(failure.decision.pause, 'apply paused: a step keeps failing on the same batch');
    else await sleep(failure.decision.retryInMs);
    // inline: nothing of the batch may be acknowledged; Kafka: its unresolved part is fetched again
    if (!batch.resolve) throw err;
  }

  /** Pauses the apply (shared control row, metric, status, log) unless it is paused already. */
  private pauseApply(reason: string, logMessage: string): void {
    this.control.pause(reason, logMessage);
  }

  async handleBatch(batch: IncomingBatch): Promise<void> {
    let items: Item[] = [];
    for (const message of batch.messages) items.push(await this.decode(message));
    if (this.options.groupId !== null && items.length > 0) {
      const applied = await this.offsetReads.submit({ topic: batch.topic, partition: batch.partition });
      const plan = planBatch(applied, items.map(trackedOf));
      if (plan.restart) {
        await this.incidents!.restart(batch, plan.restart);
      } else {
        // applied by some member of the group (before a crash, or before a rebalance moved the
        // partition here): nothing to do, but resolved so that the consumer moves past them
        const repeated = items.slice(0, plan.repeated);
        items = items.slice(plan.repeated);
        const lastRepeated = repeated[repeated.length - 1]?.message.origin?.offset;
        if (lastRepeated !== undefined) batch.resolve?.(lastRepeated);
        if (plan.gap && items.length > 0) await this.incidents!.gap(batch, plan.gap);
      }
    }
    if (items.length === 0) return;
    const messages = items.map((i) => i.message);

    // Row changes are applied in batches; markers and truncates in stream order between them. After
    // each committed part its offsets are resolved; a stopping source ends the batch there, and so
    // does a pause (the error rate crossed at a message of the part ends the part at that message).
    const resolveThrough = (upTo: Item[]) => {
      const last = upTo[upTo.length - 1]?.message.origin?.offset;
      if (last !== undefined) batch.resolve?.(last);
    };
    // Inline a batch is acknowledged whole: it cannot stop inside, a pause takes effect after it.
    const canStopInside = batch.resolve !== undefined;
    let rows: Item[] = [];
    /** applies the rows held; false when the batch must stop here (paused) */
    const flush = async (): Promise<boolean> => {
      const done = await this.applyRows(batch, rows, canStopInside);
      resolveThrough(rows.slice(0, done));
      const whole = done === rows.length;
      rows = [];
      return whole && !(canStopInside && this.controlPaused);
    };
    for (let i = 0; i < items.length; i++) {
      const item = items[i]!;
      const e = item.event;
      const special = e !== null && (e.kind === 'chunk-end' || e.kind === 'truncate');
      if (special) {
        if (!(await flush())) return;
        await this.applySpecial(batch, item);
        resolveThrough([item]);
        if (canStopInside && this.controlPaused) return;
      } else {
        rows.push(item);
        if (rows.length >= this.options.config.applyBatchSize) {
          if (!(await flush())) return;
          await batch.heartbeat?.();
        }
      }
      if (batch.shouldStop?.() && rows.length === 0) return;
    }
    if (!(await flush())) return;
    if (batch.highWatermark !== undefined && messages.length > 0) {
      const last = BigInt(messages[messages.length - 1]!.origin!.offset);
      this.options.metrics.consumerLag.set({ topic: batch.topic, partition: String(batch.partition) }, Math.max(0, Number(BigInt(batch.highWatermark) - last - 1n)));
    }
  }

  private async decode(message: IncomingMessage): Promise<Item> {
    // A decoded event whose row fails validation stays with its poison item, so that the failed record
    // says which table and row it was (and carries the event when the message had no bytes: inline).
    let event: ChangeEvent | null = null;
    try {
      event = message.event ?? (await this.options.decoder!.decode(message));
      const prepared = event.kind === 'change' || event.kind === 'snapshot' ? prepareChange(event) : null;
      return { message, event, prepared, poison: null };
    } catch (err) {
      const code = err instanceof ValidationError ? err.code : 'decode_failed';
      return { message, event, prepared: null, poison: { error: errorMessage(err), code } };
    }
  }

  private offsetUpdate(batch: IncomingBatch, items: Item[]): OffsetUpdate[] {
    if (this.options.groupId === null || items.length === 0 || !items[0]!.message.origin) return [];
    let heartbeatAt: string | null = null;
    for (const i of items) {
      if (i.event?.kind === 'heartbeat' && (heartbeatAt === null || i.event.position.commitTime > heartbeatAt)) heartbeatAt = i.event.position.commitTime;
    }
    const through = appliedThrough(items.map(trackedOf));
    return [{ group: this.options.groupId, topic: batch.topic, partition: batch.partition, nextOffset: through.nextOffset.toString(), appliedLsn: through.appliedLsn, heartbeatAt }];
  }

  private failedRecord(item: Item, error: string, code: string): FailedRecordInput {
    const e = item.event;
    const table = e && 'table' in e ? e.table : null;
    const rowId = e && (e.kind === 'change' || e.kind === 'snapshot') ? e.key : null;
    return {
      sourceTable: table,
      rowId,
      topic: item.message.origin?.topic ?? null,
      partition: item.message.origin?.partition ?? null,
      offset: item.message.origin?.offset ?? null,
      key: item.message.key,
      payload: item.message.value ?? (e ? Buffer.from(JSON.stringify(e)) : null),
      error,
      errorCode: code,
    };
  }

  /**
   * Applies a run of row changes (and poisons) of a batch; returns how many of `items` it processed:
   * all of them, or — when the error rate crosses its threshold at one of them — those up to and
   * including that message (the apply then pauses; the rest is applied after the resume). Through
   * Kafka, a run with nothing known to fail is applied together with the runs other partitions hand in
   * meanwhile (group-commit.ts); otherwise, and inline, in a transaction of its own.
   */
  private async applyRows(batch: IncomingBatch, all: Item[], stopAtCrossing: boolean): Promise<number> {
    if (all.length === 0) return 0;
    if (this.options.groupId !== null && all.every((i) => i.poison === null)) return this.rowApplies.submit({ batch, items: all });
    return this.applyRowsAlone(batch, all, stopAtCrossing);
  }

  /**
   * The rows of several partitions in one transaction, each partition's offsets recorded in it. If the
   * database refuses it (not a transient error), each partition's rows are applied on their own, which
   * isolates what it refused.
   */
  private async applyRowsOfPartitions(parts: PartitionRows[]): Promise<Settled<number>[]> {
    const alone = async (p: PartitionRows): Promise<Settled<number>> => {
      try {
        return { ok: true, value: await this.applyRowsAlone(p.batch, p.items, true) };
      } catch (error) {
        return { ok: false, error };
      }
    };
    if (parts.length === 1) return [await alone(parts[0]!)];
    const t0 = process.hrtime.bigint();
    const items = parts.flatMap((p) => p.items);
    try {
      await this.applier.transaction(async (client) => {
        const outcome = await this.applier.applyChanges(client, items.filter((c) => c.prepared !== null).map((c) => c.prepared!));
        await this.recordApplied(client, [], outcome.loansToResync, parts.flatMap((p) => this.offsetUpdate(p.batch, p.items)));
      });
    } catch (err) {
      if (isTransientDbError(err)) throw err;
      this.options.logger.warn({ err: errorMessage(err), partitions: parts.length, batch: items.length }, 'apply of several partitions failed: applying each on its own');
      const results: Settled<number>[] = [];
      for (const p of parts) results.push(await alone(p));
      return results;
    }
    this.committed(items, t0);
    for (const p of parts) this.afterCommit(p.batch, p.items, 0, p.items.filter((i) => i.prepared !== null).length);
    return parts.map((p) => ({ ok: true, value: p.items.length }));
  }

  /** What an apply records beside the rows, in its transaction: failed records, loan re-syncs, offsets. */
  private async recordApplied(client: store.Client, failed: FailedRecordInput[], loansToResync: readonly string[], offsets: OffsetUpdate[]): Promise<void> {
    await store.insertFailedRecords(client, failed);
    for (const id of new Set(loansToResync)) {
      await createSnapshotRequest(client, { scope: 'loan', tables: ['Prestamo', 'PagoPrestamo'], targetId: id, reason: 'notes not sent by the stream (unchanged TOAST) and not held', requestedBy: `sync ${this.options.instance}` });
    }
    await saveAppliedOffsets(client, offsets);
  }

  /** applyRows in a transaction of its own. */
  private async applyRowsAlone(batch: IncomingBatch, all: Item[], stopAtCrossing: boolean): Promise<number> {
    const t0 = process.hrtime.bigint();
    // a message known to fail before anything is applied: the part ends where the rate would cross
    let items = stopAtCrossing ? this.untilErrorRateCrossed(all, (i) => i.poison !== null) : all;
    let failed: Refused<Item>[] = items.filter((i) => i.poison !== null).map((i) => ({ item: i, error: i.poison!.error, code: i.poison!.code }));
    let outcome = { applied: 0, stale: 0, movements: 0, loansToResync: [] as string[] };
    const record = (client: store.Client) =>
      this.recordApplied(client, failed.map((f) => this.failedRecord(f.item, f.error, f.code)), outcome.loansToResync, this.offsetUpdate(batch, items));
    try {
      await this.sendDeadLetters(failed);
      await this.applier.transaction(async (client) => {
        outcome = await this.applier.applyChanges(client, items.filter((c) => c.prepared !== null).map((c) => c.prepared!));
        await record(client);
      });
    } catch (err) {
      // The database unreachable or busy beyond the retries: nothing was applied; the batch comes again.
      if (isTransientDbError(err) || err instanceof ApplyStepError) throw err;
      // A message the database refuses (not a transient error): find it by applying one at a time, in
      // stream order, judging the error rate after each.
      this.options.logger.warn({ err: errorMessage(err), batch: items.length }, 'apply batch failed: isolating the failing messages');
      const isolation = await isolateRefused(this.applier, items, (failures) => stopAtCrossing && this.errorWindow.firstBreach(failures) === failures.length - 1);
      items = isolation.items;
      outcome = isolation.outcome;
      const isolated = isolation.refused;
      await this.sendDeadLetters(isolated);
      failed = [...failed, ...isolated];
      await this.transactionStep('rows', record);
    }
    this.committed(items, t0);
    this.afterCommit(batch, items, failed.length, outcome.applied + outcome.stale);
    for (const f of failed) {
      this.options.metrics.applyErrors.inc({ reason: f.code });
      this.options.metrics.deadLetters.inc();
      this.options.logger.error({ error: f.error, code: f.code, origin: f.item.message.origin, key: f.item.message.key }, 'message could not be applied: sent to the dead-letter topic and failed records');
    }
    if (items.length < all.length) this.pauseApply(this.errorWindow.breach() ?? 'error rate above the threshold', 'apply paused: error rate above the rollback threshold of the operators\' guide');
    return items.length;
  }

  /** A transaction of rows committed (begun at `t0`): the crash point of a chunk's middle, the batch metrics. */
  private committed(items: Item[], t0: bigint): void {
    if (items.some((i) => i.event?.kind === 'snapshot')) (this.options.crash ?? NO_CRASH).reached('sync.mid-snapshot-chunk');
    this.options.metrics.applyBatchSeconds.observe(Number(process.hrtime.bigint() - t0) / 1e9);
    this.options.metrics.applyBatchSize.observe(items.length);
  }

  /** The leading items up to the one at which the error rate would cross its threshold (all when none). */
  private untilErrorRateCrossed(items: Item[], fails: (i: Item) => boolean): Item[] {
    const counted = items.map((i, index) => ({ i, index })).filter(({ i }) => i.poison !== null || i.prepared !== null);
    const at = this.errorWindow.firstBreach(counted.map(({ i }) => fails(i)));
    return at === null ? items : items.slice(0, counted[at]!.index + 1);
  }

  private async sendDeadLetters(failed: Refused<Item>[]): Promise<void> {
    if (failed.length === 0 || !this.options.deadLetter) return;
    try {
      await this.options.deadLetter.send(failed.map((f) => ({ origin: f.item.message.origin, key: f.item.message.key, value: f.item.message.value, error: f.error, errorCode: f.code })));
    } catch (err) {
      throw new ApplyStepError('dead_letter', err);
    }
  }

  /** A transaction of one apply step (apply-steps.ts). */
  private transactionStep<T>(step: ApplyStep, work: (client: store.Client) => Promise<T>): Promise<T> {
    return stepTransaction((w) => this.applier.transaction(w), step, work);
  }

  private afterCommit(batch: IncomingBatch, items: Item[], failed: number, processedOk: number): void {
    const tp = `${batch.topic}\u0000${batch.partition}`;
    const now = Date.now();
    for (const i of items) {
      const e = i.event;
      if (!e || i.poison) continue;
      if (e.kind === 'heartbeat') {
        this.heartbeats.set(tp, Math.max(this.heartbeats.get(tp) ?? 0, Date.parse(e.position.commitTime)));
        this.lastEventLagMs = Math.max(0, now - Date.parse(e.position.commitTime));
        this.options.metrics.endToEndLag.observe(this.lastEventLagMs / 1000);
        continue;
      }
      if ('table' in e) this.options.metrics.eventsApplied.inc({ table: e.table, op: opOf(e) });
      if (e.kind === 'change') {
        this.lastEventLagMs = Math.max(0, now - Date.parse(sourceTimeOf(e)));
        this.options.metrics.endToEndLag.observe(this.lastEventLagMs / 1000);
      }
    }
    this.status.applied += processedOk;
    this.status.failed += failed;
    this.status.lastAppliedAt = new Date(now).toISOString();
    this.errorWindow.record(processedOk + failed, failed, now);
    const breach = this.errorWindow.breach(now);
    if (breach) this.pauseApply(breach, 'apply paused: error rate above the rollback threshold of the operators\' guide');
  }

  private async applySpecial(batch: IncomingBatch, item: Item): Promise<void> {
    const e = item.event!;
    const offsets = this.offsetUpdate(batch, [item]);
    if (e.kind === 'truncate') {
      await applyTruncate(this.applier, e, offsets, this.options.config.applyBatchSize);
      this.options.logger.warn({ table: e.table, lsn: e.position.lsn }, 'legacy table truncated: its rows were removed from the new tables and reversed in the ledger');
    } else if (e.kind === 'chunk-end') {
      await this.transactionStep('snapshot_marker', async (client) => {
        await this.markers.applyChunkEnd(client, batch, e);
        await saveAppliedOffsets(client, offsets);
      });
    }
    this.afterCommit(batch, [item], 0, 1);
  }
}

/** A message as the offset rules see it: its offset and, when decoded, its source LSN. */
function trackedOf(item: Item): TrackedMessage {
  const lsn = item.event?.position.lsn;
  return { offset: BigInt(item.message.origin!.offset), lsn: typeof lsn === 'string' && isLsn(lsn) ? lsn : null };
}

export function topicTablesFor(topicOf: (table: CapturedTable) => string): Map<string, CapturedTable> {
  return new Map(CAPTURED_TABLES.map((t) => [topicOf(t), t]));
}

