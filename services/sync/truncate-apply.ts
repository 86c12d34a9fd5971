// A legacy table truncated (TRUNCATE through the stream): its rows leave the new tables and the
// ledger reverses what they held, as deletes at the truncate's position. First the table's floor is
// raised, in a transaction of its own: it waits for the applies that read the old floor, and every
// later apply of a change older than the truncate changes nothing — also one committed before it that
// another partition delivers after it. Then the rows still live are deleted in pages of `pageSize`
// keys, a transaction each; the partition's offsets are recorded with the last page, so a crash
// between pages applies the truncate again (deleting what is left). A failure other than a transient
// one is the 'truncate' step's (apply-steps.ts).
import type { ChangeEvent } from '../domain/change-event.ts';
import { versionOfPosition, type Applier, type PreparedChange } from './applier.ts';
import { raiseTruncationFloor } from './shadow-store.ts';
import { saveAppliedOffsets, type OffsetUpdate } from './offset-store.ts';
import { stepTransaction } from './apply-steps.ts';

export async function applyTruncate(
  applier: Pick<Applier, 'transaction' | 'liveKeys' | 'applyChanges'>,
  truncate: Extract<ChangeEvent, { kind: 'truncate' }>,
  offsets: OffsetUpdate[],
  pageSize: number,
): Promise<void> {
  const version = versionOfPosition(truncate.position);
  await stepTransaction((work) => applier.transaction(work), 'truncate', (client) => raiseTruncationFloor(client, truncate.table, truncate.position));
  let after: string | null = null;
  for (;;) {
    const done = await stepTransaction((work) => applier.transaction(work), 'truncate', async (client) => {
      const keys = await applier.liveKeys(client, truncate.table, after, pageSize);
      const deletes = keys.map((key) => ({ table: truncate.table, key, version, row: null, sourceLsn: truncate.position.lsn, sourceXid: truncate.position.xid }) as PreparedChange);
      await applier.applyChanges(client, deletes);
      after = keys[keys.length - 1] ?? after;
      const last = keys.length < pageSize;
      if (last) await saveAppliedOffsets(client, offsets);
      return last;
    });
    if (done) return;
  }
}
