// The sync's input from Kafka: a consumer group over the table topics. Offsets
// are committed to Kafka only after the handler resolves, i.e. after the database transaction that
// applied the batch has committed; a batch whose handler fails is fetched again.
import type { Consumer, Kafka } from 'kafkajs';
import type { EventSource, IncomingBatch } from '../../services/domain/ports.ts';
import type { Logger } from '../../services/runtime/logger.ts';
import { NO_CRASH, type CrashPoints } from '../../services/runtime/crash-points.ts';

export interface KafkaSourceOptions {
  kafka: Kafka;
  groupId: string;
  topics: string[];
  logger: Logger;
  /** partitions processed at the same time (each in its own database transaction) */
  partitionsConsumedConcurrently?: number;
  /** how long the group waits for a member that stopped answering (a crashed consumer) */
  sessionTimeoutMs?: number;
  crash?: CrashPoints;
}

export class KafkaEventSource implements EventSource {
  private readonly consumer: Consumer;
  private readonly options: KafkaSourceOptions;
  private stopped = false;
  private stopping = false;
  private assigned = new Set<string>();

  constructor(options: KafkaSourceOptions) {
    this.options = options;
    this.consumer = options.kafka.consumer({
      groupId: options.groupId,
      allowAutoTopicCreation: true,
      maxWaitTimeInMs: 100,
      sessionTimeout: options.sessionTimeoutMs ?? 30_000,
      heartbeatInterval: Math.min(3_000, Math.floor((options.sessionTimeoutMs ?? 30_000) / 3)),
      maxBytesPerPartition: 4 * 1024 * 1024,
      // kafkajs restarts a crashed consumer; never once this source is stopping (it would keep the
      // process alive after its drain)
      retry: { restartOnFailure: async () => !this.stopping },
    });
  }

  async run(handler: (batch: IncomingBatch) => Promise<void>): Promise<void> {
    this.consumer.on(this.consumer.events.GROUP_JOIN, (e) => {
      const assignment = e.payload.memberAssignment as Record<string, number[]>;
      this.assigned = new Set(Object.entries(assignment).flatMap(([topic, partitions]) => partitions.map((p) => `${topic}\u0000${p}`)));
    });
    await this.consumer.connect();
    await this.consumer.subscribe({ topics: this.options.topics, fromBeginning: true });
    await this.consumer.run({
      autoCommit: false,
      eachBatchAutoResolve: false,
      partitionsConsumedConcurrently: this.options.partitionsConsumedConcurrently ?? 1,
      eachBatch: async ({ batch, resolveOffset, heartbeat, isRunning, isStale }) => {
        if (!isRunning() || isStale() || batch.messages.length === 0) return;
        let resolved: string | null = null;
        await handler({
          topic: batch.topic,
          partition: batch.partition,
          highWatermark: batch.highWatermark,
          heartbeat,
          resolve: (offset) => {
            resolved = offset;
            resolveOffset(offset);
          },
          shouldStop: () => this.stopping || !isRunning() || isStale(),
          messages: batch.messages.map((m) => ({
            origin: { topic: batch.topic, partition: batch.partition, offset: m.offset },
            key: m.key ? m.key.toString('utf8') : null,
            value: m.value,
            headers: Object.fromEntries(Object.entries(m.headers ?? {}).map(([k, v]) => [k, String(v)])),
          })),
        });
        if (resolved === null) return;
        (this.options.crash ?? NO_CRASH).reached('sync.after-commit-before-offset-commit');
        await this.consumer.commitOffsets([{ topic: batch.topic, partition: batch.partition, offset: (BigInt(resolved) + 1n).toString() }]);
      },
    });
  }

  assignment(): Set<string> | null {
    return this.assigned;
  }

  pause(): void {
    this.consumer.pause(this.options.topics.map((topic) => ({ topic })));
  }

  resume(): void {
    this.consumer.resume(this.options.topics.map((topic) => ({ topic })));
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    // the handler stops after the part of the batch it is applying; kafkajs then commits and leaves
    this.stopping = true;
    await this.consumer.disconnect();
  }
}
