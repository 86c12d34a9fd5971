// The sync's offset bookkeeping in Kafka mode: which messages of a partition the consumer group has
// applied, which ones a fetched batch repeats, and when the offsets say that messages were lost.
//
// Contract
// - The truth is prestamos_cdc.consumer_offsets (services/sync/offset-store.ts), written in the database
//   transaction that applied the messages: per consumer group, topic and partition, the next offset to
//   apply and the highest source LSN among the messages applied. It is read afresh for every fetched
//   batch and never cached across batches: since this process last owned a partition, other members of
//   the group may have applied from it (a rebalance moved it away and back).
// - De-duplication: a message below the recorded next offset was applied by some member of the group
//   (it is delivered again after a crash between the database commit and the Kafka offset commit, or
//   after a rebalance). It is skipped and resolved, without touching the database.
// - Gap: a batch that starts above the recorded next offset — or, on a partition the group never
//   applied from, above offset 0 — follows messages that no member of the group applied and that the
//   broker no longer has (retention removed them; a new group on an old topic). Offsets a process did not
//   apply itself are never a gap by themselves. The caller re-syncs the table.
// - Offsets restarted: the offsets of the partition are not the ones the group applied when a
//   "repeated" message carries a source LSN above every LSN the group applied on the partition: the
//   topic was deleted and recreated (offsets start at 0 again), or the broker lost data. (The
//   partition's high watermark is no evidence: a new leader may report a stale one for a moment.) The
//   capture's heartbeats reach every partition within a heartbeat interval, each with a new LSN, so a
//   recreated topic is recognised at its first new message. Then nothing of the batch is skipped,
//   the partition's record restarts at the batch's first offset, and the caller re-syncs the table
//   (whatever the old topic held unapplied is gone). Sound because the capture publishes every event to
//   a partition in commit order the first time (a re-publish after a capture restart repeats older LSNs,
//   never newer ones), so a message the group really applied never carries an LSN above the recorded one.
// - The rules below are pure; SyncService reads the record, decodes the batch, asks `planBatch`, and
//   saves `appliedUpdate` in its apply transaction.
import { compareLsn, maxLsn } from '../domain/lsn.ts';

/** What the group applied from one partition (consumer_offsets), or the start of a partition never applied. */
export interface AppliedOffsets {
  /** false: the group has no record of this partition (it never applied from it) */
  recorded: boolean;
  nextOffset: bigint;
  /** the highest source LSN among the messages applied (null: none carried one) */
  appliedLsn: string | null;
}

export const NEVER_APPLIED: AppliedOffsets = { recorded: false, nextOffset: 0n, appliedLsn: null };

/** One fetched message as the rules see it: its offset and, when it could be decoded, its source LSN. */
export interface TrackedMessage {
  offset: bigint;
  lsn: string | null;
}

export interface OffsetGap {
  /** first and last offset that no member of the group applied and the broker no longer has */
  fromOffset: bigint;
  toOffset: bigint;
  /** the group had no record of the partition: it started on a topic whose oldest messages are gone */
  newGroup: boolean;
}

export interface OffsetRestart {
  /** the offset the group's record said was next */
  recordedNext: bigint;
  /** where the partition's record restarts: the batch's first offset */
  restartAt: bigint;
  reason: string;
}

export interface BatchPlan {
  /** how many leading messages of the batch the group applied already (skipped, resolved) */
  repeated: number;
  gap: OffsetGap | null;
  restart: OffsetRestart | null;
}

/**
 * Decides, for a batch of one partition (offsets ascending, as fetched), what was applied already,
 * whether messages were lost before it, and whether the partition's offsets restarted.
 */
export function planBatch(applied: AppliedOffsets, messages: TrackedMessage[]): BatchPlan {
  const first = messages[0];
  if (!first) return { repeated: 0, gap: null, restart: null };
  const restart = restartOf(applied, messages);
  if (restart) return { repeated: 0, gap: null, restart };
  let repeated = 0;
  while (repeated < messages.length && messages[repeated]!.offset < applied.nextOffset) repeated++;
  const next = messages[repeated];
  const gap = next !== undefined && next.offset > applied.nextOffset
    ? { fromOffset: applied.nextOffset, toOffset: next.offset - 1n, newGroup: !applied.recorded }
    : null;
  return { repeated, gap, restart: null };
}

function restartOf(applied: AppliedOffsets, messages: TrackedMessage[]): OffsetRestart | null {
  if (!applied.recorded || applied.appliedLsn === null) return null;
  const restartAt = messages[0]!.offset;
  for (const m of messages) {
    if (m.offset >= applied.nextOffset) break;
    if (m.lsn !== null && compareLsn(m.lsn, applied.appliedLsn) > 0) {
      return {
        recordedNext: applied.nextOffset,
        restartAt,
        reason: `offset ${m.offset}, below the next offset ${applied.nextOffset} the group recorded, carries source position ${m.lsn}, newer than any the group applied (${applied.appliedLsn})`,
      };
    }
  }
  return null;
}

/** The record after applying `messages` (a non-empty run of the batch, ascending): next offset and highest LSN. */
export function appliedThrough(messages: TrackedMessage[]): { nextOffset: bigint; appliedLsn: string | null } {
  let lsn: string | null = null;
  for (const m of messages) if (m.lsn !== null) lsn = lsn === null ? m.lsn : maxLsn(lsn, m.lsn);
  return { nextOffset: messages[messages.length - 1]!.offset + 1n, appliedLsn: lsn };
}

/**
 * The part of a gap still open once the record is read again under its lock: another member of the
 * group may have applied some or all of those offsets meanwhile (null: none is missing any more).
 */
export function remainingGap(gap: OffsetGap, recordedNow: AppliedOffsets): OffsetGap | null {
  if (recordedNow.nextOffset > gap.toOffset) return null;
  return recordedNow.nextOffset > gap.fromOffset ? { ...gap, fromOffset: recordedNow.nextOffset } : gap;
}
