// Publishes change events to Kafka: one topic per table (<prefix>.public.<Table>), keyed by primary key.
//   - The topics are the product's: created (or checked) at connect, see topic-plan.ts.
//   - Idempotent producer, acks from all in-sync replicas, one request in flight: a produce the client
//     retries is neither duplicated nor reordered by the broker.
//   - Compressed (gzip unless KAFKA_COMPRESSION=none).
//   - Requests sized under every topic's max.message.bytes (produce-batcher.ts). An event that alone
//     cannot fit is not sent: it is handed to `onUnpublishable` (the capture records it as a failed
//     record and counts it) and the stream goes on.
// Snapshot-chunk markers go to every partition of their table's topic (the key list only on marker 0,
// the one that uses it); heartbeats to every partition of every table topic; a truncate to partition 0.
import { CompressionTypes, Partitioners, type Kafka, type Producer, type Message } from 'kafkajs';
import type { ChangeEvent } from '../../services/domain/change-event.ts';
import type { EventPublisher } from '../../services/domain/ports.ts';
import type { Logger } from '../../services/runtime/logger.ts';
import { UnencodableValueError, type EventEncoder } from './event-codec.ts';
import { topicFor, keyOf } from './envelope.ts';
import { CAPTURED_TABLES } from '../../services/domain/change-event.ts';
import { ensureTopics, type EnsuredTopic } from './topic-admin.ts';
import type { TopicSettings } from './topic-plan.ts';
import { ProduceBatcher, budgetFor, messageBytes } from './produce-batcher.ts';
import { withDeadline } from './deadline.ts';

/**
 * The longest a send (its own retries included: 3 tries of at most requestTimeout 15 s, with backoff),
 * a producer connect or a metadata read may take before it counts as failed: beyond the client's own
 * bounds, so it only ends a call that would otherwise never settle.
 */
export const KAFKA_CALL_DEADLINE_MS = 60_000;

/** A change that no produce request can carry. */
export interface UnpublishableEvent {
  table: string;
  key: string;
  topic: string;
  bytes: number;
  limit: number;
  lsn: string;
  reason: 'too_large' | 'schema_mismatch';
  /** for schema_mismatch: why the value does not fit */
  detail?: string;
}

export interface KafkaPublisherOptions {
  kafka: Kafka;
  encoder: EventEncoder;
  prefix: string;
  logger: Logger;
  topics: TopicSettings;
  compression: 'none' | 'gzip';
  /** durable record of an event that was not sent (resolves once stored) */
  onUnpublishable: (event: UnpublishableEvent) => Promise<void>;
}

export class KafkaEventPublisher implements EventPublisher {
  private readonly options: KafkaPublisherOptions;
  private producer: Producer;
  /** topic → partition count, refreshed every minute (partitions can be added to a topic) */
  private readonly partitions = new Map<string, { n: number; at: number }>();
  private budget = 0;
  private topicsReady = false;
  private producerConnected = false;

  constructor(options: KafkaPublisherOptions) {
    this.options = options;
    this.producer = this.createProducer();
  }

  private createProducer(): Producer {
    return this.options.kafka.producer({
      idempotent: true,
      maxInFlightRequests: 1,
      allowAutoTopicCreation: false,
      createPartitioner: Partitioners.DefaultPartitioner,
      // few retries here, so that an unreachable broker is noticed (counted, readiness) within about
      // 45 s; the capture keeps failed batches in order and retries them with its own backoff. Within
      // the client's retries the idempotent producer's sequence numbers keep a resent batch from being
      // written twice; a batch the capture itself resends may be (the sync's version guard makes a
      // duplicate change nothing)
      retry: { initialRetryTime: 200, retries: 2, maxRetryTime: 2000 },
    });
  }

  /**
   * After a failed send the producer is replaced: requests that timed out may still be written by a
   * broker that was only stalled, and kafkajs's idempotent producer then stays out of step with the
   * broker's sequence numbers (OUT_OF_ORDER_SEQUENCE_NUMBER on every later send). A new producer gets a
   * new producer id; the capture resends the batch in order.
   */
  private async replaceProducer(): Promise<void> {
    const old = this.producer;
    this.producer = this.createProducer();
    this.producerConnected = false;
    // the old one's in-flight requests end with their timeouts; nothing waits for them past the deadline
    await withDeadline(old.disconnect(), KAFKA_CALL_DEADLINE_MS, 'disconnecting the replaced producer').catch(() => undefined);
  }

  /**
   * Checks (or creates) the table topics — unless the caller did and passes what it found — and
   * connects the producer. The partition counts found seed the cache partitionCount() refreshes.
   */
  async connect(ensured?: Map<string, EnsuredTopic>): Promise<void> {
    if (!this.topicsReady) {
      const tables = CAPTURED_TABLES.map((t) => topicFor(this.options.prefix, t));
      const found = ensured ?? (await ensureTopics({ kafka: this.options.kafka, wanted: tables.map((name) => ({ name, role: 'table' as const })), settings: this.options.topics, logger: this.options.logger }));
      const mine = tables.map((name) => {
        const t = found.get(name);
        if (!t) throw new Error(`topic ${name} was not checked at start`);
        return [name, t] as const;
      });
      this.budget = budgetFor(Math.min(...mine.map(([, t]) => t.maxMessageBytes)));
      for (const [name, t] of mine) this.partitions.set(name, { n: t.partitions, at: Date.now() });
      this.topicsReady = true;
    }
    if (!this.producerConnected) {
      try {
        await withDeadline(this.producer.connect(), KAFKA_CALL_DEADLINE_MS, 'connecting the producer');
      } catch (err) {
        await this.replaceProducer();
        throw err;
      }
      this.producerConnected = true;
    }
  }

  async publish(events: ChangeEvent[]): Promise<void> {
    await this.connect();
    const batcher = new ProduceBatcher(this.budget);
    const unpublishable: UnpublishableEvent[] = [];
    const addControl = (topic: string, message: Message, what: string) => {
      if (!batcher.add(topic, message)) {
        throw new Error(`${what} of ${messageBytes(message)} bytes does not fit in a produce request to ${topic} (budget ${this.budget} bytes from max.message.bytes)`);
      }
    };
    for (const event of events) {
      if (event.kind === 'chunk-end') {
        const topic = topicFor(this.options.prefix, event.table);
        const n = await this.partitionCount(topic);
        for (let i = 0; i < n; i++) {
          const marker = { ...event, keys: i === 0 ? event.keys : [], markers: n, markerIndex: i };
          const encoded = await this.options.encoder.encode(marker, topic, null);
          addControl(topic, { key: null, value: encoded.value, partition: i, headers: { 'prestamos-cdc-kind': 'snapshot-chunk-end' } }, 'a snapshot chunk marker (lower SNAPSHOT_CHUNK_SIZE)');
        }
        continue;
      }
      if (event.kind === 'heartbeat') {
        for (const table of CAPTURED_TABLES) {
          const topic = topicFor(this.options.prefix, table);
          const n = await this.partitionCount(topic);
          const encoded = await this.options.encoder.encode(event, topic, null);
          for (let i = 0; i < n; i++) addControl(topic, { key: null, value: encoded.value, partition: i, headers: { 'prestamos-cdc-kind': 'heartbeat' } }, 'a heartbeat');
        }
        continue;
      }
      const topic = topicFor(this.options.prefix, event.table);
      const key = keyOf(event);
      let encoded;
      try {
        encoded = await this.options.encoder.encode(event, topic, key);
      } catch (err) {
        if (!(err instanceof UnencodableValueError) || event.kind === 'truncate') throw err;
        unpublishable.push({ table: event.table, key: event.key, topic, bytes: 0, limit: this.budget, lsn: event.position.lsn, reason: 'schema_mismatch', detail: err.message });
        continue;
      }
      if (event.kind === 'truncate' || key === null) {
        // a truncate has no key
        addControl(topic, { key: null, value: encoded.value, partition: 0 }, 'a truncate');
        continue;
      }
      const message: Message = { key: encoded.key, value: encoded.value };
      if (!batcher.add(topic, message)) {
        unpublishable.push({
          table: event.table,
          key: event.key,
          topic,
          bytes: messageBytes(message),
          limit: this.budget,
          lsn: event.position.lsn,
          reason: 'too_large',
        });
      }
    }
    const compression = this.options.compression === 'gzip' ? CompressionTypes.GZIP : CompressionTypes.None;
    for (const request of batcher.take()) {
      try {
        await withDeadline(this.producer.sendBatch({ topicMessages: request.topicMessages, acks: -1, timeout: 30_000, compression }), KAFKA_CALL_DEADLINE_MS, 'a produce request');
      } catch (err) {
        await this.replaceProducer();
        throw err;
      }
    }
    for (const u of unpublishable) {
      this.options.logger.error(u, u.reason === 'too_large' ? 'change event too large for any produce request: recorded as a failed record, not sent' : 'change event that the topic\'s Avro schema cannot carry: recorded as a failed record, not sent');
      await this.options.onUnpublishable(u);
    }
  }

  /** Partitions of a topic (the topics exist: connect() made sure). */
  private async partitionCount(topic: string): Promise<number> {
    const known = this.partitions.get(topic);
    if (known && Date.now() - known.at < 60_000) return known.n;
    const admin = this.options.kafka.admin();
    try {
      await withDeadline(admin.connect(), KAFKA_CALL_DEADLINE_MS, `connecting an admin client for ${topic}'s partitions`);
      const meta = await withDeadline(admin.fetchTopicMetadata({ topics: [topic] }), KAFKA_CALL_DEADLINE_MS, `reading ${topic}'s partitions`);
      const n = meta.topics[0]?.partitions.length ?? 0;
      if (n === 0) throw new Error(`topic ${topic} has no partitions in the cluster's metadata`);
      this.partitions.set(topic, { n, at: Date.now() });
      return n;
    } finally {
      await withDeadline(admin.disconnect(), KAFKA_CALL_DEADLINE_MS, 'disconnecting an admin client').catch(() => undefined);
    }
  }

  async close(): Promise<void> {
    if (this.producerConnected) await this.producer.disconnect();
    this.producerConnected = false;
  }
}
