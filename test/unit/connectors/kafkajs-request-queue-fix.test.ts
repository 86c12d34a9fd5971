// The kafkajs request-queue workaround: without it, an idle queue schedules its throttle check with a
// negative delay (Node 24: TimeoutNegativeWarning); with it, the delay is clamped and pending requests
// are still checked after the same interval.
import { describe, expect, it } from 'vitest';
import { createRequire } from 'node:module';
import { installRequestQueueFix } from '../../../connectors/kafka/kafkajs-request-queue-fix.ts';

const require = createRequire(import.meta.url);
const RequestQueue = require('kafkajs/src/network/requestQueue/index.js') as {
  prototype: { scheduleCheckPendingRequests(this: unknown): void };
};

function queueState(pending: unknown[], throttledUntil = -1) {
  return { throttledUntil, throttleCheckTimeoutId: null as NodeJS.Timeout | null, pending, checks: 0, checkPendingRequests() { this.checks++; } };
}

function delayOf(run: () => void): number {
  const original = globalThis.setTimeout;
  let delay = NaN;
  globalThis.setTimeout = ((fn: () => void, ms: number) => {
    delay = ms;
    return original(fn, 0);
  }) as typeof setTimeout;
  try {
    run();
  } finally {
    globalThis.setTimeout = original;
  }
  return delay;
}

describe('kafkajs request queue throttle check', () => {
  it('schedules a negative delay when idle as kafkajs ships it, and 0 once fixed', () => {
    const shipped = RequestQueue.prototype.scheduleCheckPendingRequests;
    const before = delayOf(() => shipped.call(queueState([])));
    installRequestQueueFix();
    const fixed = RequestQueue.prototype.scheduleCheckPendingRequests;
    // the shipped method is what this workaround exists for; if kafkajs fixes it, drop the workaround
    if (fixed !== shipped) expect(before).toBeLessThan(0);
    expect(delayOf(() => fixed.call(queueState([])))).toBe(0);
    expect(delayOf(() => fixed.call(queueState([{}])))).toBe(10);
    const throttled = delayOf(() => fixed.call(queueState([{}], Date.now() + 5000)));
    expect(throttled).toBeGreaterThan(4000);
    expect(throttled).toBeLessThanOrEqual(5000);
  });

  it('still runs the pending-request check', async () => {
    installRequestQueueFix();
    const q = queueState([{}]);
    RequestQueue.prototype.scheduleCheckPendingRequests.call(q);
    await new Promise((r) => setTimeout(r, 50));
    expect(q.checks).toBe(1);
    expect(q.throttleCheckTimeoutId).toBeNull();
  });
});
