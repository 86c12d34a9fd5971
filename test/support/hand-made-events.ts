// Change events made by hand, for the tests that feed the sync a topic directly (no capture): stream
// positions from a test's own bases, a loan created at one, and the produce of such events — encoded
// as the capture encodes them (the JSON codec), all in one produce request, so that the sync fetches
// each partition's share as one batch.
import { Kafka, logLevel } from 'kafkajs';
import { JsonEventCodec } from '../../connectors/kafka/event-codec.ts';
import { topicFor, keyOf } from '../../connectors/kafka/envelope.ts';
import type { CapturedTable, ChangeEvent, StreamPosition } from '../../services/domain/change-event.ts';

/** Where a test's positions start: its LSNs, xids and commit day (2026-01-<day>). */
export interface PositionBase {
  lsn: number;
  xid: number;
  day?: number;
}

/** The n-th position of a test's stream: LSNs 0x100 apart, xids one apart, commit times a second apart. */
export function streamPosition(n: number, base: PositionBase): StreamPosition {
  const commitTime = new Date(Date.UTC(2026, 0, base.day ?? 1, 0, 0, n)).toISOString().replace('Z', '000Z');
  return { lsn: `0/${(base.lsn + n * 0x100).toString(16).toUpperCase()}`, seq: 1, xid: String(base.xid + n), commitTime };
}

/** A loan of 100.00 at 1 % in 3 instalments created at `position`. */
export function loanCreated(id: string, juntaId: string, position: StreamPosition, estado = 'PENDIENTE'): ChangeEvent {
  return {
    kind: 'change', table: 'Prestamo', op: 'c', key: id,
    after: {
      id, juntaId, miembroId: `m-${juntaId}`, monto: '100.00', tasaInteres: '0.0100', cuotas: 3, estado,
      fechaDesembolso: null, fechaVencimiento: null, observaciones: null, createdAt: position.commitTime, updatedAt: position.commitTime,
    },
    unchangedToast: [],
    position,
  };
}

/** A message to produce: an event (encoded), or raw bytes on a table's topic (a message no codec reads). */
export type OutgoingMessage =
  | { event: ChangeEvent; partition: number }
  | { table: CapturedTable; key: string; value: Buffer; partition: number };

/** Sends the messages to the topics of `prefix` in one produce request, in the order given per partition. */
export async function produceMessages(brokers: string[], prefix: string, messages: OutgoingMessage[]): Promise<void> {
  const codec = new JsonEventCodec(prefix);
  const byTopic = new Map<string, { key: Buffer | string | null; value: Buffer | string | null; partition: number }[]>();
  for (const m of messages) {
    if ('event' in m) {
      const table = (m.event as { table: CapturedTable }).table;
      const topic = topicFor(prefix, table);
      const encoded = await codec.encode(m.event, topic, keyOf(m.event));
      byTopic.set(topic, [...(byTopic.get(topic) ?? []), { key: encoded.key, value: encoded.value, partition: m.partition }]);
    } else {
      const topic = topicFor(prefix, m.table);
      byTopic.set(topic, [...(byTopic.get(topic) ?? []), { key: m.key, value: m.value, partition: m.partition }]);
    }
  }
  const producer = new Kafka({ clientId: `hand-made-${prefix}`, brokers, logLevel: logLevel.NOTHING }).producer({ allowAutoTopicCreation: true });
  await producer.connect();
  try {
    await producer.sendBatch({ topicMessages: [...byTopic].map(([topic, list]) => ({ topic, messages: list })) });
  } finally {
    await producer.disconnect();
  }
}
