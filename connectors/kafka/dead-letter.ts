// The dead-letter topic: a message that could not be applied is copied there as it was received, with
// its origin and the error in headers, before its offset is committed. The topic is created at start
// with the table topics (topic-admin.ts); the producer is idempotent, like the capture's.
import { Partitioners, type Kafka, type Producer } from 'kafkajs';
import type { DeadLetterSink, MessageOrigin } from '../../services/domain/ports.ts';
import { deadLetterTopic } from './envelope.ts';

export class KafkaDeadLetterSink implements DeadLetterSink {
  private readonly producer: Producer;
  private readonly topic: string;
  private connected = false;

  constructor(options: { kafka: Kafka; prefix: string }) {
    this.producer = options.kafka.producer({ allowAutoTopicCreation: false, idempotent: true, maxInFlightRequests: 1, createPartitioner: Partitioners.DefaultPartitioner });
    this.topic = deadLetterTopic(options.prefix);
  }

  async send(records: { origin: MessageOrigin | null; key: string | null; value: Buffer | null; error: string; errorCode: string }[]): Promise<void> {
    if (records.length === 0) return;
    if (!this.connected) {
      await this.producer.connect();
      this.connected = true;
    }
    await this.producer.send({
      topic: this.topic,
      acks: -1,
      messages: records.map((r) => ({
        key: r.key,
        value: r.value,
        headers: {
          'prestamos-cdc-error': r.error.slice(0, 2000),
          'prestamos-cdc-error-code': r.errorCode,
          ...(r.origin
            ? { 'prestamos-cdc-origin-topic': r.origin.topic, 'prestamos-cdc-origin-partition': String(r.origin.partition), 'prestamos-cdc-origin-offset': r.origin.offset }
            : {}),
        },
      })),
    });
  }

  async close(): Promise<void> {
    if (this.connected) await this.producer.disconnect();
    this.connected = false;
  }
}
