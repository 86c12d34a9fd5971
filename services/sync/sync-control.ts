// The sync's control: what it does with each snapshot of the process's control loop
// (runtime/control-loop.ts). It follows the shared control row (pause/resume: the source is held while
// paused, and a resume starts the error window and the attempt counts again), holds the apply while the
// source's load is above its threshold (domain/throttle.ts decides), keeps the pause, throttle and
// error-ratio fields of the sync's status and their metrics, and reports the status. A pause the sync
// decides itself (error rate, a step that keeps failing) is written to the control row; a snapshot
// whose read began before that write was recorded does not undo it.
import type { Logger } from '../runtime/logger.ts';
import type { Metrics } from '../runtime/metrics.ts';
import type { Queryable } from '../runtime/queryable.ts';
import { errorMessage } from '../runtime/errors.ts';
import { setPaused, reportComponent } from '../runtime/control-plane.ts';
import type { ControlSnapshot } from '../runtime/control-loop.ts';
import type { SyncStatus } from '../domain/component-status.ts';
import type { EventSource } from '../domain/ports.ts';
import { decideThrottle, describeThrottle, throttleMetricLabel } from '../domain/throttle.ts';

/** How often the open failed records are counted for their gauge. */
const FAILED_RECORDS_COUNT_MS = 5000;

export interface SyncControlOptions {
  pool: Queryable;
  instance: string;
  source: Pick<EventSource, 'pause' | 'resume'>;
  /** the sync's status: this keeps its paused, pausedReason, throttled, throttleReason, errorRatio and running/paused state */
  status: SyncStatus;
  sourceLoadThreshold: number | undefined;
  logger: Logger;
  metrics: Metrics;
  /** the apply resumes after a pause */
  onResume(): void;
  errorRatio(): number;
  lagSeconds(): number;
  /** the status as reported */
  getStatus(): SyncStatus;
}

export class SyncControl {
  private readonly options: SyncControlOptions;
  private pausedNow = false;
  private loadThrottled = false;
  private sourceHeld = false;
  /** writes of pauses decided here, not yet recorded */
  private pauseWrites = 0;
  /** performance.now() when the last of them was recorded (or failed) */
  private pauseRecordedAt = -Infinity;
  private lastFailedCount = 0;

  constructor(options: SyncControlOptions) {
    this.options = options;
  }

  /** Whether the apply is paused (by the control row or by this sync). */
  get paused(): boolean {
    return this.pausedNow;
  }

  /** Pauses the apply (shared control row, metric, status, log) unless it is paused already. */
  pause(reason: string, logMessage: string): void {
    if (this.pausedNow) return;
    const { status, metrics, logger } = this.options;
    this.pausedNow = true;
    this.options.source.pause();
    this.sourceHeld = true;
    status.paused = true;
    status.pausedReason = reason;
    metrics.paused.set(1);
    logger.error({ reason }, logMessage);
    // a snapshot read before this write is recorded would see "not paused" and lift the pause just made
    this.pauseWrites++;
    void setPaused(this.options.pool, true, reason, `sync ${this.options.instance}`)
      .catch((err) => logger.error({ err }, 'could not record the pause'))
      .finally(() => {
        this.pauseWrites--;
        this.pauseRecordedAt = performance.now();
      });
  }

  async onSnapshot(snapshot: ControlSnapshot): Promise<void> {
    const { status, metrics, logger } = this.options;
    try {
      if (!snapshot.ok) throw snapshot.error;
      const { control } = snapshot;
      // a pause decided here after the read began is newer than what the read saw
      const current = this.pauseWrites === 0 && snapshot.readStartedAt >= this.pauseRecordedAt;
      if (current && control.paused !== this.pausedNow) {
        this.pausedNow = control.paused;
        if (!control.paused) this.options.onResume();
        logger.warn({ paused: control.paused, reason: control.reason, by: control.changedBy }, control.paused ? 'apply paused' : 'apply resumed');
      }
      if (current) {
        status.paused = control.paused;
        status.pausedReason = control.paused ? control.reason : null;
      }
      if (snapshot.sourceLoad !== undefined) {
        const load = snapshot.sourceLoad;
        const threshold = this.options.sourceLoadThreshold;
        const reason = decideThrottle({ sourceLoad: load }, { sourceLoadThreshold: threshold });
        const throttled = reason !== null;
        if (throttled !== this.loadThrottled) logger.warn({ load, threshold }, throttled ? 'apply throttled: source load above threshold' : 'apply throttle lifted');
        this.loadThrottled = throttled;
        status.throttled = throttled;
        status.throttleReason = reason ? describeThrottle(reason) : null;
        metrics.throttled.set({ reason: 'source_load' }, throttleMetricLabel('apply', reason) === 'source_load' ? 1 : 0);
      }
      const hold = this.pausedNow || this.loadThrottled;
      if (hold && !this.sourceHeld) this.options.source.pause();
      if (!hold && this.sourceHeld) this.options.source.resume();
      this.sourceHeld = hold;
      if (status.state === 'running' || status.state === 'paused') status.state = this.pausedNow ? 'paused' : 'running';
      metrics.paused.set(this.pausedNow ? 1 : 0);
      metrics.endToEndLagCurrent.set(this.options.lagSeconds());
      const ratio = this.options.errorRatio();
      metrics.errorRate.set(ratio);
      status.errorRatio = ratio;
      if (Date.now() - this.lastFailedCount >= FAILED_RECORDS_COUNT_MS) {
        this.lastFailedCount = Date.now();
        const open = await this.options.pool.query<{ n: string }>(`SELECT count(*)::text AS n FROM prestamos_cdc.failed_records WHERE status = 'open'`);
        metrics.failedRecordsOpen.set(Number(open.rows[0]!.n));
      }
      await reportComponent(this.options.pool, this.options.instance, { component: 'sync', status: this.options.getStatus() });
    } catch (err) {
      // before the migration objects exist (42P01) there is nothing to check yet
      const missing = (err as { code?: string }).code === '42P01';
      logger[missing ? 'debug' : 'warn']({ err: errorMessage(err) }, 'sync control check failed');
    }
  }
}
