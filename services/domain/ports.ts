// What the services need from the outside world, as interfaces the connectors implement: where the
// capture publishes change events (Kafka, or the in-process hand-off) and where the sync reads them.
import type { ChangeEvent } from './change-event.ts';

export interface EventPublisher {
  /**
   * Publishes events in order. Resolves once every one of them is durable downstream: acknowledged by
   * Kafka (all in-sync replicas), or, inline, applied to the database. Rejects if any is not.
   * A chunk-end event is a template: the publisher sends one marker to every partition of the table's
   * topic, each carrying the marker count and its index (inline: one marker).
   */
  publish(events: ChangeEvent[]): Promise<void>;
  close(): Promise<void>;
}

/** Where a message came from, for offsets, failed records and the dead-letter topic. */
export interface MessageOrigin {
  topic: string;
  partition: number;
  offset: string;
}

export interface IncomingMessage {
  origin: MessageOrigin | null;
  key: string | null;
  /** the raw message (Kafka), kept for failed records and the dead-letter topic */
  value: Buffer | null;
  headers?: Record<string, string>;
  /** the decoded event (inline: handed over as is) */
  event?: ChangeEvent;
}

export interface IncomingBatch {
  topic: string;
  partition: number;
  messages: IncomingMessage[];
  /** high watermark of the partition when the batch was fetched (consumer lag), when known */
  highWatermark?: string;
  /** keeps the consumer's group membership alive during a long batch */
  heartbeat?: () => Promise<void>;
  /** marks messages up to this offset as applied (their offsets are committed after the handler) */
  resolve?: (offset: string) => void;
  /** true once the source is stopping: the handler stops after the part it is applying */
  shouldStop?: () => boolean;
}

export interface EventSource {
  /** Delivers batches in partition order; a batch is redelivered unless `handler` resolves. */
  run(handler: (batch: IncomingBatch) => Promise<void>): Promise<void>;
  /** The partitions this consumer owns now ("topic\u0000partition"); null when it owns the only one. */
  assignment(): Set<string> | null;
  pause(): void;
  resume(): void;
  stop(): Promise<void>;
}

/** Decodes raw messages into events (JSON, or Avro with the schema registry). */
export interface EventDecoder {
  decode(message: IncomingMessage): Promise<ChangeEvent>;
}

export interface DeadLetterSink {
  send(records: { origin: MessageOrigin | null; key: string | null; value: Buffer | null; error: string; errorCode: string }[]): Promise<void>;
}
