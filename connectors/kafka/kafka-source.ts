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
  /** partitions handed to the handler at the same time (the sync applies their rows together) */
  partitionsConsumedConcurrently?: number;
  /** how long the group waits for a member that stopped answering (a crashed consumer) */
  sessionTimeoutMs?: number;
  crash?: CrashPoints;
}

export class KafkaEventSource implements EventSource {
  private consumer: Consumer;
  private readonly options: KafkaSourceOptions;
  private stopped = false;
  private stopping = false;
  private paused = false;
  private assigned = new Set<string>();
  private restartTimer: NodeJS.Timeout | undefined;

  constructor(options: KafkaSourceOptions) {
    this.options = options;
    this.consumer = this.createConsumer();
  }

  private createConsumer(): Consumer {
    const sessionTimeout = this.options.sessionTimeoutMs ?? 30_000;
    return this.options.kafka.consumer({
      groupId: this.options.groupId,
      allowAutoTopicCreation: false,
      maxWaitTimeInMs: 100,
      sessionTimeout,
      heartbeatInterval: Math.min(3_000, Math.floor(sessionTimeout / 3)),
      // A fetch is bounded in compressed bytes; gzip-compressed JSON events decompress to several times
      // that, and decoded events take several times more again. Through a backlog of a 1M-row
      // transaction, 4 MiB per partition and kafkajs' 10 MiB per fetch took the sync to ~490 MiB at 300k
      // rows (and out of its 256 MB heap at 1M); 1 MiB per partition and 2 MiB per fetch keep it bounded
      // whatever the backlog (bench/memory.ts).
      maxBytesPerPartition: 1024 * 1024,
      maxBytes: 2 * 1024 * 1024,
      // kafkajs restarts a crashed consumer; never once this source is stopping (it would keep the
      // process alive after its drain)
      retry: { restartOnFailure: async () => !this.stopping },
    });
  }

  async run(handler: (batch: IncomingBatch) => Promise<void>): Promise<void> {
    const consumer = this.consumer;
    consumer.on(consumer.events.GROUP_JOIN, (e) => {
      const assignment = e.payload.memberAssignment as Record<string, number[]>;
      this.assigned = new Set(Object.entries(assignment).flatMap(([topic, partitions]) => partitions.map((p) => `${topic}\u0000${p}`)));
    });
    // kafkajs restarts a consumer only after retriable errors; after others (a member the group
    // forgot while the broker was unreachable: UNKNOWN_MEMBER_ID on an offset commit) it stops for
    // good. Then a new consumer takes its place: it joins the group again and resumes at the committed
    // offsets, so nothing is skipped (and what was applied but not committed is version-guarded).
    consumer.on(consumer.events.CRASH, (e) => {
      if (e.payload.restart || this.stopping) return;
      this.options.logger.error({ err: e.payload.error?.message }, 'the Kafka consumer stopped on an error; replacing it');
      this.restartTimer = setTimeout(() => void this.replace(consumer, handler), 1000);
    });
    await consumer.connect();
    await consumer.subscribe({ topics: this.options.topics, fromBeginning: true });
    await consumer.run({
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
        await consumer.commitOffsets([{ topic: batch.topic, partition: batch.partition, offset: (BigInt(resolved) + 1n).toString() }]);
      },
    });
    // a replacement consumer keeps the hold (pause) its predecessor was under
    if (this.paused) this.pause();
  }

  private async replace(old: Consumer, handler: (batch: IncomingBatch) => Promise<void>): Promise<void> {
    if (this.stopping || old !== this.consumer) return;
    await old.disconnect().catch(() => undefined);
    if (this.stopping) return;
    this.consumer = this.createConsumer();
    try {
      await this.run(handler);
    } catch (err) {
      this.options.logger.error({ err: (err as Error).message }, 'the new Kafka consumer could not start; trying again');
      this.restartTimer = setTimeout(() => void this.replace(this.consumer, handler), 5000);
    }
  }

  assignment(): Set<string> | null {
    return this.assigned;
  }

  pause(): void {
    this.paused = true;
    this.whenRunning(() => this.consumer.pause(this.options.topics.map((topic) => ({ topic }))));
  }

  resume(): void {
    this.paused = false;
    this.whenRunning(() => this.consumer.resume(this.options.topics.map((topic) => ({ topic }))));
  }

  /** kafkajs refuses pause/resume before run() made a group; run() applies the hold itself then. */
  private whenRunning(fn: () => void): void {
    try {
      fn();
    } catch (err) {
      if (!/run must be called first|not initialized/i.test((err as Error).message)) throw err;
    }
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    // the handler stops after the part of the batch it is applying; kafkajs then commits and leaves
    this.stopping = true;
    if (this.restartTimer) clearTimeout(this.restartTimer);
    await this.consumer.disconnect();
  }
}
