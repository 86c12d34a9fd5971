// The consumer group's applied offsets in the database (prestamos_cdc.consumer_offsets): read for
// every fetched batch, written in the transaction that applied the messages, moved back only when the
// partition's offsets restarted (services/sync/offset-tracker.ts says when).
import { NEVER_APPLIED, type AppliedOffsets } from './offset-tracker.ts';
import type { Queryable } from '../runtime/queryable.ts';


export interface OffsetUpdate {
  group: string;
  topic: string;
  partition: number;
  nextOffset: string;
  /** the highest source LSN among the messages applied, if any carried one */
  appliedLsn: string | null;
  /** commit time of the newest heartbeat among the messages applied, if any */
  heartbeatAt: string | null;
}

type OffsetRow = { next_offset: string; applied_lsn: string | null };
const appliedOf = (row: OffsetRow): AppliedOffsets => ({ recorded: true, nextOffset: BigInt(row.next_offset), appliedLsn: row.applied_lsn });

/** What the group applied from one partition, read inside a transaction and locked until it ends. */
export async function lockAppliedOffsets(db: Queryable, group: string, topic: string, partition: number): Promise<AppliedOffsets> {
  const r = await db.query<OffsetRow>(
    `SELECT next_offset::text, applied_lsn::text FROM prestamos_cdc.consumer_offsets
      WHERE consumer_group = $1 AND topic = $2 AND partition = $3 FOR UPDATE`,
    [group, topic, partition],
  );
  const row = r.rows[0];
  return row ? appliedOf(row) : NEVER_APPLIED;
}

/** What the group applied from each of `partitions` ("topic\u0000partition" → offsets), in one statement. */
export async function readAppliedOffsetsOf(db: Queryable, group: string, partitions: readonly { topic: string; partition: number }[]): Promise<Map<string, AppliedOffsets>> {
  const out = new Map<string, AppliedOffsets>();
  if (partitions.length === 0) return out;
  const r = await db.query<OffsetRow & { topic: string; partition: number }>(
    `SELECT o.topic, o.partition, o.next_offset::text, o.applied_lsn::text
       FROM unnest($2::text[], $3::int[]) AS k(topic, partition)
       JOIN prestamos_cdc.consumer_offsets o ON o.consumer_group = $1 AND o.topic = k.topic AND o.partition = k.partition`,
    [group, partitions.map((p) => p.topic), partitions.map((p) => p.partition)],
  );
  for (const row of r.rows) out.set(`${row.topic}\u0000${row.partition}`, appliedOf(row));
  for (const p of partitions) if (!out.has(`${p.topic}\u0000${p.partition}`)) out.set(`${p.topic}\u0000${p.partition}`, NEVER_APPLIED);
  return out;
}

/** Records applied offsets: never moves a partition's next offset or applied LSN back. */
export async function saveAppliedOffsets(db: Queryable, updates: OffsetUpdate[]): Promise<void> {
  if (updates.length === 0) return;
  await db.query(
    `INSERT INTO prestamos_cdc.consumer_offsets (consumer_group, topic, partition, next_offset, applied_lsn, heartbeat_at, updated_at)
     SELECT g, t, p, o, l, h, now() FROM unnest($1::text[], $2::text[], $3::int[], $4::bigint[], $5::pg_lsn[], $6::timestamptz[]) AS v(g, t, p, o, l, h)
     ON CONFLICT (consumer_group, topic, partition) DO UPDATE
       SET next_offset = GREATEST(prestamos_cdc.consumer_offsets.next_offset, EXCLUDED.next_offset),
           applied_lsn = GREATEST(prestamos_cdc.consumer_offsets.applied_lsn, EXCLUDED.applied_lsn),
           heartbeat_at = GREATEST(prestamos_cdc.consumer_offsets.heartbeat_at, EXCLUDED.heartbeat_at),
           updated_at = now()`,
    [
      updates.map((u) => u.group),
      updates.map((u) => u.topic),
      updates.map((u) => u.partition),
      updates.map((u) => u.nextOffset),
      updates.map((u) => u.appliedLsn),
      updates.map((u) => u.heartbeatAt),
    ],
  );
}

/** The partition's offsets restarted (topic recreated): its record starts again at `nextOffset`. */
export async function restartAppliedOffsets(db: Queryable, group: string, topic: string, partition: number, nextOffset: bigint): Promise<void> {
  await db.query(
    `UPDATE prestamos_cdc.consumer_offsets SET next_offset = $4, updated_at = now()
      WHERE consumer_group = $1 AND topic = $2 AND partition = $3`,
    [group, topic, partition, nextOffset.toString()],
  );
}
