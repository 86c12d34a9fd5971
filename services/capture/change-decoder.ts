// pgoutput messages → change events. A transaction's changes get its commit LSN, its xid (widened to
// 64 bits against a recent horizon), their order inside it and its commit time; its commit adds a
// boundary (the position the slot may be confirmed at once everything before it is acknowledged). A
// primary-key update becomes a delete and a create. The project's own tables are not captured: a
// heartbeat row is a heartbeat event, a snapshot-watermark signal names the chunks to emit at this
// position. A change of a relation that is not a captured table is reported, not emitted.
// No I/O: what it makes goes to its output.
import { isCapturedTable, type ChangeEvent, type CapturedTable, type RawRow } from '../domain/change-event.ts';
import { widenXid } from '../domain/visibility.ts';
import type { StreamMessage } from '../../connectors/postgres/replication-stream.ts';

/** The commit end LSN of a transaction whose changes precede it in the buffer. */
export interface Boundary {
  boundary: string;
}
export type Decoded = ChangeEvent | Boundary;

export interface DecoderOutput {
  push(item: Decoded): void;
  /** a transaction's commit was decoded (its boundary pushed) */
  committed(): void;
  /** a row of a relation that is published but is not a captured table */
  uncaptured(schema: string, name: string): void;
  /** a snapshot watermark: the chunks it names are emitted at this commit */
  watermark(chunkIds: string[], commitLsn: string): void;
}

export class ChangeDecoder {
  private readonly out: DecoderOutput;
  private txn: { xid: bigint; commitLsn: string; commitTime: string; seq: number } | null = null;
  /** a recent xid horizon, to widen the 32-bit xids of the stream */
  private xidReference = 0n;

  constructor(out: DecoderOutput) {
    this.out = out;
  }

  /** A new replication connection: no transaction is open. */
  reset(xidReference: bigint): void {
    this.txn = null;
    this.xidReference = xidReference;
  }

  setXidReference(xidReference: bigint): void {
    this.xidReference = xidReference;
  }

  get inTransaction(): boolean {
    return this.txn !== null;
  }

  onMessage(m: StreamMessage): void {
    switch (m.tag) {
      case 'begin':
        this.txn = { xid: widenXid(m.xid, this.xidReference), commitLsn: m.commitLsn, commitTime: m.commitTime.toISOString(), seq: 0 };
        return;
      case 'commit':
        this.out.push({ boundary: m.commitEndLsn });
        this.txn = null;
        this.out.committed();
        return;
      case 'insert':
      case 'update':
      case 'delete': {
        const rel = m.relation;
        if (rel.schema === 'prestamos_cdc') return this.onOwnTable(m);
        if (rel.schema !== 'public' || !isCapturedTable(rel.name)) return this.out.uncaptured(rel.schema, rel.name);
        if (!this.txn) return;
        const table = rel.name;
        if (m.tag === 'delete') {
          this.pushChange(table, 'd', String(m.key.id), null, []);
        } else if (m.tag === 'update' && m.oldKey && m.oldKey.id !== undefined && m.oldKey.id !== m.row.id) {
          // the primary key itself changed: the old row is gone, a new one exists
          this.pushChange(table, 'd', String(m.oldKey.id), null, []);
          this.pushChange(table, 'c', String(m.row.id), m.row, m.unchangedToast);
        } else {
          this.pushChange(table, m.tag === 'insert' ? 'c' : 'u', String(m.row.id), m.row, m.tag === 'update' ? m.unchangedToast : []);
        }
        return;
      }
      case 'truncate':
        if (!this.txn) return;
        for (const rel of m.relations) {
          if (rel.schema === 'prestamos_cdc') continue;
          if (rel.schema !== 'public' || !isCapturedTable(rel.name)) {
            this.out.uncaptured(rel.schema, rel.name);
            continue;
          }
          this.txn.seq++;
          this.out.push({ kind: 'truncate', table: rel.name, position: this.position() });
        }
        return;
      default:
        return;
    }
  }

  private position() {
    const t = this.txn!;
    return { lsn: t.commitLsn, seq: t.seq, xid: t.xid.toString(), commitTime: t.commitTime };
  }

  private pushChange(table: CapturedTable, op: 'c' | 'u' | 'd', key: string, after: RawRow | null, unchangedToast: string[]): void {
    this.txn!.seq++;
    this.out.push({ kind: 'change', table, op, key, after, unchangedToast, position: this.position() });
  }

  private onOwnTable(m: Extract<StreamMessage, { tag: 'insert' | 'update' | 'delete' }>): void {
    if (!this.txn) return;
    if (m.relation.name === 'heartbeat' && m.tag !== 'delete') {
      this.txn.seq++;
      this.out.push({ kind: 'heartbeat', position: this.position() });
    } else if (m.relation.name === 'signal' && m.tag === 'insert' && String(m.row.kind) === 'snapshot-watermark') {
      let chunkIds: string[] = [];
      try {
        chunkIds = (JSON.parse(String(m.row.payload)) as { chunkIds?: string[] }).chunkIds ?? [];
      } catch {
        return;
      }
      this.out.watermark(chunkIds, this.txn.commitLsn);
    }
  }
}
