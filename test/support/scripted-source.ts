// An event source for tests that drive the sync directly: it delivers the given batches in order, once
// (each handed over only after the previous one was handled), then idles — the order two partitions
// can interleave in, or a marker at a chosen moment.
import type pg from 'pg';
import type { EventSource, IncomingBatch } from '../../services/domain/ports.ts';
import { SyncService, topicTablesFor } from '../../services/sync/sync-service.ts';
import { createMetrics } from '../../services/runtime/metrics.ts';
import { silentLogger } from '../../services/runtime/logger.ts';
import { ControlLoop } from '../../services/runtime/control-loop.ts';
import type { ChangeEvent } from '../../services/domain/change-event.ts';

export class ScriptedSource implements EventSource {
  delivered = 0;
  private readonly batches: IncomingBatch[];
  constructor(batches: IncomingBatch[]) {
    this.batches = batches;
  }
  async run(handler: (batch: IncomingBatch) => Promise<void>): Promise<void> {
    for (const b of this.batches) {
      await handler(b);
      this.delivered++;
    }
  }
  assignment() {
    return null;
  }
  pause() {}
  resume() {}
  async stop() {}
}

/** A batch of decoded events (no Kafka origin) on one topic and partition. */
export function scriptedBatch(topic: string, partition: number, events: ChangeEvent[]): IncomingBatch {
  return { topic, partition, messages: events.map((event) => ({ origin: null, key: null, value: null, event })) };
}

/** A sync (no consumer group, no decoder, no dead-letter topic, a control loop of its own) that applies what `source` delivers. */
export function syncOver(pool: pg.Pool, source: EventSource, instance: string): SyncService {
  const logger = silentLogger();
  return new SyncService({
    pool,
    source,
    decoder: null,
    deadLetter: null,
    groupId: null,
    topicTables: topicTablesFor((t) => `t.public.${t}`),
    config: { applyBatchSize: 100, maxApplyAttempts: 3, heartbeatIntervalMs: 1000, errorRate: { threshold: 0.5, windowSeconds: 60, minEvents: 1000 }, throttle: { sourceLoadThreshold: undefined } },
    control: new ControlLoop({ pool, logger }),
    logger,
    metrics: createMetrics({ defaultMetrics: false }),
    instance,
  });
}
