// kafkajs 2.2.4 schedules its request queue's throttle check with `throttledUntil - Date.now()` even
// when nothing is throttled or pending (throttledUntil is -1), which is a delay of about minus the
// current epoch in milliseconds. Node 24 warns about it (TimeoutNegativeWarning: -1796147452596 is a
// negative number) and runs the timer after 1 ms. This replaces that one method with the same logic
// and the delay clamped at 0, which is what Node does anyway, without the warning. It is installed
// once, when the Kafka client is first made (kafka-client.ts), and checked by a unit test against the
// kafkajs version in the lockfile: remove it when kafkajs fixes the method.
import { createRequire } from 'node:module';

const CHECK_PENDING_REQUESTS_INTERVAL = 10;

interface RequestQueueInternals {
  throttledUntil: number;
  throttleCheckTimeoutId: NodeJS.Timeout | null;
  pending: unknown[];
  checkPendingRequests(): void;
}

let installed = false;

export function installRequestQueueFix(): void {
  if (installed) return;
  const require = createRequire(import.meta.url);
  const RequestQueue = require('kafkajs/src/network/requestQueue/index.js') as { prototype: Record<string, unknown> };
  if (typeof RequestQueue.prototype.scheduleCheckPendingRequests !== 'function') {
    throw new Error('kafkajs RequestQueue has no scheduleCheckPendingRequests: revisit connectors/kafka/kafkajs-request-queue-fix.ts');
  }
  RequestQueue.prototype.scheduleCheckPendingRequests = function scheduleCheckPendingRequests(this: RequestQueueInternals) {
    let scheduleAt = this.throttledUntil - Date.now();
    if (!this.throttleCheckTimeoutId) {
      if (this.pending.length > 0) scheduleAt = scheduleAt > 0 ? scheduleAt : CHECK_PENDING_REQUESTS_INTERVAL;
      this.throttleCheckTimeoutId = setTimeout(() => {
        this.throttleCheckTimeoutId = null;
        this.checkPendingRequests();
      }, Math.max(0, scheduleAt));
    }
  };
  installed = true;
}
