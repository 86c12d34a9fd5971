// The version guard: does an incoming version of a row supersede the one already applied?
// Streamed changes are ordered by source position (commit LSN, order inside the transaction). A
// snapshot row was read under a pg_snapshot; it is newer than a streamed change exactly when the
// change's transaction is visible in that snapshot, and older otherwise — even when the change
// committed (in WAL order) before the snapshot's watermark, which is what commit-order and visibility
// disagreeing looks like. So the comparison uses transaction visibility, never time.
import { isVisibleIn, type PgSnapshot } from './visibility.ts';

export type RowVersion =
  | { kind: 'change'; lsn: bigint; seq: number; xid: bigint }
  | { kind: 'snapshot'; lsn: bigint; snapshot: PgSnapshot };

export function supersedes(incoming: RowVersion, current: RowVersion | null): boolean {
  if (current === null) return true;
  if (incoming.kind === 'change') {
    if (current.kind === 'change') {
      return incoming.lsn > current.lsn || (incoming.lsn === current.lsn && incoming.seq > current.seq);
    }
    // The snapshot already reflects every transaction it sees; any other is newer than it.
    return !isVisibleIn(incoming.xid, current.snapshot);
  }
  if (current.kind === 'change') return isVisibleIn(current.xid, incoming.snapshot);
  // Two snapshot reads: their watermarks follow the order in which they were read.
  return incoming.lsn > current.lsn;
}
