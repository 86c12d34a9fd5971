// Publishes change events to Kafka: one topic per table (<prefix>.public.<Table>), keyed by primary key,
// acks from all in-sync replicas. One produce request at a time, so per-partition order holds even
// when a request is retried (the mock broker, and brokers without idempotence, could otherwise reorder).
// Snapshot-chunk markers go to every partition of their table's topic; heartbeats to every partition of
// every table topic.
import { Partitioners, type Kafka, type Producer, type Message } from 'kafkajs';
import type { ChangeEvent } from '../../services/domain/change-event.ts';
import type { EventPublisher } from '../../services/domain/ports.ts';
import type { Logger } from '../../services/runtime/logger.ts';
import type { EventEncoder } from './event-codec.ts';
import { topicFor, keyOf } from './envelope.ts';
import { CAPTURED_TABLES } from '../../services/domain/change-event.ts';

export class KafkaEventPublisher implements EventPublisher {
  private readonly kafka: Kafka;
  private readonly producer: Producer;
  private readonly encoder: EventEncoder;
  private readonly prefix: string;
  private readonly logger: Logger;
  /** topic → partition count, refreshed every minute (partitions can be added to a topic) */
  private readonly partitions = new Map<string, { n: number; at: number }>();
  private connected = false;

  constructor(options: { kafka: Kafka; encoder: EventEncoder; prefix: string; logger: Logger }) {
    this.kafka = options.kafka;
    this.encoder = options.encoder;
    this.prefix = options.prefix;
    this.logger = options.logger;
    this.producer = options.kafka.producer({ allowAutoTopicCreation: true, idempotent: false, maxInFlightRequests: 1, createPartitioner: Partitioners.DefaultPartitioner,
      // few retries here: the capture keeps failed batches in order and retries them with its own backoff
      retry: { initialRetryTime: 200, retries: 2, maxRetryTime: 2000 } });
  }

  async connect(): Promise<void> {
    if (this.connected) return;
    await this.producer.connect();
    this.connected = true;
  }

  async publish(events: ChangeEvent[]): Promise<void> {
    await this.connect();
    let group: { topic: string; messages: Message[] }[] = [];
    const flush = async () => {
      if (group.length === 0) return;
      await this.producer.sendBatch({ topicMessages: group, acks: -1, timeout: 30_000 });
      group = [];
    };
    const add = (topic: string, message: Message) => {
      const last = group[group.length - 1];
      if (last && last.topic === topic) last.messages.push(message);
      else group.push({ topic, messages: [message] });
    };
    for (const event of events) {
      if (event.kind === 'chunk-end') {
        // the chunk's rows first, so that the topic exists and its partitions are known
        await flush();
        const topic = topicFor(this.prefix, event.table);
        const n = await this.partitionCount(topic);
        for (let i = 0; i < n; i++) {
          const marker = { ...event, markers: n, markerIndex: i };
          const encoded = await this.encoder.encode(marker, topic, null);
          add(topic, { key: null, value: encoded.value, partition: i, headers: { 'prestamos-cdc-kind': 'snapshot-chunk-end' } });
        }
        continue;
      }
      if (event.kind === 'heartbeat') {
        // on every partition of every table topic, in order with the changes before it
        await flush();
        for (const table of CAPTURED_TABLES) {
          const topic = topicFor(this.prefix, table);
          const n = await this.partitionCount(topic);
          const encoded = await this.encoder.encode(event, topic, null);
          for (let i = 0; i < n; i++) add(topic, { key: null, value: encoded.value, partition: i, headers: { 'prestamos-cdc-kind': 'heartbeat' } });
        }
        continue;
      }
      const topic = topicFor(this.prefix, event.table);
      const key = keyOf(event);
      const encoded = await this.encoder.encode(event, topic, key);
      // a truncate has no key: it goes to partition 0, like every event without one
      add(topic, { key: encoded.key, value: encoded.value, ...(key === null ? { partition: 0 } : {}) });
    }
    await flush();
  }

  /** Partitions of a topic; a topic nobody has written yet is created by its first marker (on partition 0). */
  private async partitionCount(topic: string): Promise<number> {
    const known = this.partitions.get(topic);
    if (known && Date.now() - known.at < 60_000) return known.n;
    const admin = this.kafka.admin();
    await admin.connect();
    try {
      const meta = await admin.fetchTopicMetadata({ topics: [topic] });
      const n = meta.topics[0]?.partitions.length ?? 0;
      if (n > 0) {
        this.partitions.set(topic, { n, at: Date.now() });
        return n;
      }
    } catch (err) {
      this.logger.debug({ topic, err: (err as Error).message }, 'topic has no metadata yet: one marker');
    } finally {
      await admin.disconnect();
    }
    return 1;
  }

  async close(): Promise<void> {
    if (this.connected) await this.producer.disconnect();
    this.connected = false;
  }
}
