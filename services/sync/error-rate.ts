// The error-rate rule of the operators' guide: above 1 % failed messages over a sliding window, the
// apply pauses. A window of one-second buckets; the ratio is judged only once the window holds enough
// messages, so that one poison message among the first ten does not stop a migration.

export interface ErrorRateOptions {
  threshold: number;
  windowSeconds: number;
  minEvents: number;
}

export class ErrorRateWindow {
  private readonly options: ErrorRateOptions;
  private readonly buckets = new Map<number, { processed: number; failed: number }>();

  constructor(options: ErrorRateOptions) {
    this.options = options;
  }

  record(processed: number, failed: number, nowMs = Date.now()): void {
    const second = Math.floor(nowMs / 1000);
    const b = this.buckets.get(second) ?? { processed: 0, failed: 0 };
    b.processed += processed;
    b.failed += failed;
    this.buckets.set(second, b);
    this.prune(second);
  }

  private prune(second: number): void {
    const oldest = second - this.options.windowSeconds + 1;
    for (const k of this.buckets.keys()) if (k < oldest) this.buckets.delete(k);
  }

  totals(nowMs = Date.now()): { processed: number; failed: number; ratio: number } {
    this.prune(Math.floor(nowMs / 1000));
    let processed = 0;
    let failed = 0;
    for (const b of this.buckets.values()) {
      processed += b.processed;
      failed += b.failed;
    }
    return { processed, failed, ratio: processed === 0 ? 0 : failed / processed };
  }

  /** The reason to pause, or null. */
  breach(nowMs = Date.now()): string | null {
    const t = this.totals(nowMs);
    if (t.processed < this.options.minEvents || t.ratio <= this.options.threshold) return null;
    return `error rate ${(t.ratio * 100).toFixed(2)} % (${t.failed} of ${t.processed} messages failed in the last ${this.options.windowSeconds} s) is above ${(this.options.threshold * 100).toFixed(2)} %`;
  }

  /**
   * Where, among messages about to be recorded in this order (true: failed), the window would cross
   * the threshold: the index of the message that crosses it, or null. The window is not changed.
   */
  firstBreach(failed: readonly boolean[], nowMs = Date.now()): number | null {
    let { processed, failed: failures } = this.totals(nowMs);
    for (let i = 0; i < failed.length; i++) {
      processed++;
      if (failed[i]) failures++;
      if (processed >= this.options.minEvents && failures / processed > this.options.threshold) return i;
    }
    return null;
  }

  reset(): void {
    this.buckets.clear();
  }
}
