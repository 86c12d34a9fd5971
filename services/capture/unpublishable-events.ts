// A change event that Kafka cannot carry — larger than any produce request the topic accepts, or with a
// value the topic's Avro schema cannot carry exactly — becomes a failed record (table, key, size or
// reason, commit LSN) before the capture confirms past it, so
// that the slot can move on and the stream keeps flowing while the loss is visible: the failed-records
// gauge, prestamos_cdc_events_unpublishable_total, its alert, the reconciler's verification (the row
// differs) and cutover (refused while a failed record is open). Recording it twice (a replay after a
// crash) stores it once.
import type pg from 'pg';
import type { Metrics } from '../runtime/metrics.ts';
import type { UnpublishableEvent } from '../../connectors/kafka/kafka-publisher.ts';

/** What the publisher could not send (connectors/kafka/kafka-publisher.ts). */
export type UnpublishableChange = UnpublishableEvent;

export const EVENT_TOO_LARGE = 'EVENT_TOO_LARGE';
export const EVENT_SCHEMA_MISMATCH = 'EVENT_SCHEMA_MISMATCH';

/** Every series of the counter from the start (0), so that its panel and alert have data on a healthy system. */
export function initUnpublishableSeries(metrics: Metrics, tables: readonly string[]): void {
  for (const table of tables) for (const reason of ['too_large', 'schema_mismatch'] as const) metrics.eventsUnpublishable.inc({ table, reason }, 0);
}

export async function recordUnpublishable(pool: pg.Pool, metrics: Metrics | undefined, u: UnpublishableChange): Promise<void> {
  const error =
    u.reason === 'too_large'
      ? `change at LSN ${u.lsn} is ${u.bytes} bytes encoded, over the ${u.limit} bytes a produce request to ${u.topic} can carry (max.message.bytes): not sent. Raise the topic's max.message.bytes and KAFKA_MAX_MESSAGE_BYTES, then retry this record (it re-syncs the row)`
      : `change at LSN ${u.lsn} cannot be encoded with the Avro schema of ${u.topic}: ${u.detail ?? 'a value does not fit'}. Not sent; the row is re-synced by retrying this record once the column's type is one the schema can carry`;
  const code = u.reason === 'too_large' ? EVENT_TOO_LARGE : EVENT_SCHEMA_MISMATCH;
  const r = await pool.query(
    `INSERT INTO prestamos_cdc.failed_records (source_table, row_id, topic, message_key, error, error_code)
     SELECT $1, $2, $3, $4, $5, $6
      WHERE NOT EXISTS (SELECT 1 FROM prestamos_cdc.failed_records
                         WHERE error_code = $6 AND source_table = $1 AND row_id = $2 AND error = $5)`,
    [u.table, u.key, u.topic, JSON.stringify({ id: u.key }), error, code],
  );
  if (r.rowCount) metrics?.eventsUnpublishable.inc({ table: u.table, reason: u.reason });
}
