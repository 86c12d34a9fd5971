// Encoding of change events for Kafka: JSON by default; Avro with the Confluent Schema Registry when a
// registry is configured (subject <topic>-value, backward-compatible evolution when a legacy table
// gains a column). Decoding recognises either by the Confluent magic byte, so a consumer reads a topic
// whatever its producer chose.
import type { SchemaRegistry } from '@kafkajs/confluent-schema-registry';
import type { ChangeEvent, RawRow } from '../../services/domain/change-event.ts';
import type { EventDecoder, IncomingMessage } from '../../services/domain/ports.ts';
import { ValidationError } from '../../services/runtime/errors.ts';
import { fromEnvelope, toEnvelope, type Envelope } from './envelope.ts';
import { avroNameOk, avroSchemaFor, fromAvroRecord, toAvroRecord } from './avro-schema.ts';

export interface EncodedEvent {
  key: string | null;
  value: Buffer;
}

export interface EventEncoder {
  encode(event: ChangeEvent, topic: string, key: string | null): Promise<EncodedEvent>;
}

export class JsonEventCodec implements EventEncoder, EventDecoder {
  private readonly prefix: string;
  constructor(prefix: string) {
    this.prefix = prefix;
  }
  async encode(event: ChangeEvent, _topic: string, key: string | null): Promise<EncodedEvent> {
    return { key, value: Buffer.from(JSON.stringify(toEnvelope(event, this.prefix))) };
  }
  async decode(message: IncomingMessage): Promise<ChangeEvent> {
    return decodeJson(message.value);
  }
}

function decodeJson(value: Buffer | null): ChangeEvent {
  if (!value || value.length === 0) throw new ValidationError('empty message (a tombstone or a message without a value)', 'empty_message');
  let parsed: unknown;
  try {
    parsed = JSON.parse(value.toString('utf8'));
  } catch (err) {
    throw new ValidationError(`message is neither Avro nor JSON: ${(err as Error).message}`, 'undecodable');
  }
  return fromEnvelope(parsed);
}

/**
 * Avro through the registry. The value schema of a topic is derived from the columns of the rows that
 * travel on it; a row with a new column (an ALTER TABLE … ADD COLUMN on the legacy table) registers a
 * new version whose added field defaults to null, which the registry accepts as backward compatible.
 */
export class AvroEventCodec implements EventEncoder, EventDecoder {
  private readonly registry: SchemaRegistry;
  private readonly prefix: string;
  /** topic → (column signature → registry id) */
  private readonly ids = new Map<string, Map<string, number>>();

  constructor(registry: SchemaRegistry, prefix: string) {
    this.registry = registry;
    this.prefix = prefix;
  }

  async encode(event: ChangeEvent, topic: string, key: string | null): Promise<EncodedEvent> {
    const envelope = toEnvelope(event, this.prefix);
    const columns = columnsOf(envelope);
    // A column name Avro cannot carry (the application may add any): this event travels as JSON, which
    // every consumer of these topics also reads.
    if (!columns.every((c) => avroNameOk(c.name))) return { key, value: Buffer.from(JSON.stringify(envelope)) };
    const signature = columns.map((c) => `${c.name}:${c.type}`).join(',');
    let perTopic = this.ids.get(topic);
    if (!perTopic) this.ids.set(topic, (perTopic = new Map()));
    let id = perTopic.get(signature);
    if (id === undefined) {
      const schema = avroSchemaFor(topic, columns);
      const registered = await this.registry.register(
        { type: 'AVRO' as never, schema: JSON.stringify(schema) },
        { subject: `${topic}-value` },
      );
      id = registered.id;
      perTopic.set(signature, id);
    }
    const value = await this.registry.encode(id, toAvroRecord(envelope, columns));
    return { key, value };
  }

  async decode(message: IncomingMessage): Promise<ChangeEvent> {
    const value = message.value;
    if (value && value.length > 5 && value[0] === 0) {
      let record: unknown;
      try {
        record = await this.registry.decode(value);
      } catch (err) {
        throw new ValidationError(`Avro message could not be decoded: ${(err as Error).message}`, 'undecodable');
      }
      return fromEnvelope(fromAvroRecord(record));
    }
    return decodeJson(value);
  }
}

/** Columns of the rows an envelope carries, in a stable order, with the Avro type of their values. */
function columnsOf(envelope: Envelope): { name: string; type: 'string' | 'int' | 'boolean' }[] {
  const seen = new Map<string, 'string' | 'int' | 'boolean'>();
  const add = (row: RawRow | null) => {
    if (!row) return;
    for (const [k, v] of Object.entries(row)) {
      const t = typeof v === 'boolean' ? 'boolean' : typeof v === 'number' ? 'int' : 'string';
      if (!seen.has(k) || (v !== null && seen.get(k) === 'string' && t !== 'string')) seen.set(k, t);
    }
  };
  add(envelope.before);
  add(envelope.after);
  for (const c of envelope.unchanged_toast) if (!seen.has(c)) seen.set(c, 'string');
  return [...seen].map(([name, type]) => ({ name, type })).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}
