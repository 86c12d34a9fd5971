// Encoding of change events for Kafka: JSON by default; Avro with the Confluent Schema Registry when a
// registry is configured (subject <topic>-value, backward-compatible evolution when a legacy table
// gains a column). Decoding recognises either by the Confluent magic byte, so a consumer reads a topic
// whatever its producer chose.
import type { SchemaRegistry } from '@kafkajs/confluent-schema-registry';
import type { ChangeEvent } from '../../services/domain/change-event.ts';
import type { EventDecoder, IncomingMessage } from '../../services/domain/ports.ts';
import { ValidationError } from '../../services/runtime/errors.ts';
import { fromEnvelope, toEnvelope, type Envelope } from './envelope.ts';
import { avroNameOk, avroSchemaFor, columnsToWiden, fromAvroRecord, toAvroRecord, KNOWN_COLUMNS, UnencodableValueError, type AvroColumnType } from './avro-schema.ts';

export { UnencodableValueError };

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
 * Avro through the registry. The value schema of a topic has a field for every known column of its
 * table (see KNOWN_COLUMNS) and for every other column seen so far; a row with a new column (an ALTER
 * TABLE … ADD COLUMN on the legacy table) registers a new version whose added field defaults to null,
 * which the registry accepts as backward compatible. Columns absent from a row travel as null.
 * A known column whose type changed on the source is evolved where Avro allows it without loss (an
 * integer beyond 32 bits: int → long, a promotion the registry accepts as backward compatible); a value
 * no version can carry exactly throws UnencodableValueError, which the publisher routes to the failed
 * records so that the stream goes on (never a retry loop on the same event).
 */
export class AvroEventCodec implements EventEncoder, EventDecoder {
  private readonly registry: SchemaRegistry;
  private readonly prefix: string;
  /** topic → its current columns and registry id */
  private readonly schemas = new Map<string, { columns: { name: string; type: AvroColumnType }[]; id: number }>();

  constructor(registry: SchemaRegistry, prefix: string) {
    this.registry = registry;
    this.prefix = prefix;
  }

  async encode(event: ChangeEvent, topic: string, key: string | null): Promise<EncodedEvent> {
    const envelope = toEnvelope(event, this.prefix);
    const seen = columnNamesOf(envelope);
    // A column name Avro cannot carry (the application may add any): this event travels as JSON, which
    // every consumer of these topics also reads.
    if (!seen.every(avroNameOk)) return { key, value: Buffer.from(JSON.stringify(envelope)) };
    let current = this.schemas.get(topic);
    const known = current?.columns ?? Object.entries(KNOWN_COLUMNS[envelope.source.table] ?? {}).map(([name, type]) => ({ name, type }));
    const added = seen.filter((n) => !known.some((c) => c.name === n));
    const widened = columnsToWiden(envelope, known);
    if (!current || added.length > 0 || widened.length > 0) {
      const columns = [
        ...known.map((c) => (widened.includes(c.name) ? { name: c.name, type: 'long' as const } : c)),
        ...added.map((name) => ({ name, type: 'string' as const })),
      ].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
      const registered = await this.registry.register(
        { type: 'AVRO' as never, schema: JSON.stringify(avroSchemaFor(topic, columns)) },
        { subject: `${topic}-value` },
      );
      current = { columns, id: registered.id };
      this.schemas.set(topic, current);
    }
    const value = await this.registry.encode(current.id, toAvroRecord(envelope, current.columns));
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

/** Names of the columns of the rows an envelope carries. */
function columnNamesOf(envelope: Envelope): string[] {
  const names = new Set<string>();
  for (const row of [envelope.before, envelope.after]) if (row) for (const k of Object.keys(row)) names.add(k);
  for (const c of envelope.unchanged_toast) names.add(c);
  return [...names];
}
