// The snapshot rendezvous: a chunk the snapshotter has read waits here until its watermark comes
// through the stream; there its rows and its marker are emitted, in order with the changes around
// them; its promise resolves once the marker is acknowledged downstream (Kafka, or the inline apply).
// A chunk whose watermark was read by an earlier run of the capture is not held: the snapshotter
// reads it again.
import type { ChangeEvent, CapturedTable, ChunkScope, RawRow } from '../domain/change-event.ts';

/** A snapshot chunk read and waiting for its watermark to come through the stream. */
export interface HeldChunk {
  chunkId: string;
  requestId: string;
  table: CapturedTable;
  rows: RawRow[];
  scope: ChunkScope;
  snapshot: string;
  readTime: string;
}

export class ChunkRendezvous {
  private readonly held = new Map<string, { chunk: HeldChunk; resolve: () => void; reject: (e: Error) => void }>();

  hold(chunk: HeldChunk): Promise<void> {
    return new Promise<void>((resolve, reject) => this.held.set(chunk.chunkId, { chunk, resolve, reject }));
  }

  release(chunkId: string, reason: Error): void {
    const h = this.held.get(chunkId);
    if (h) {
      this.held.delete(chunkId);
      h.reject(reason);
    }
  }

  releaseAll(reason: Error): void {
    for (const id of [...this.held.keys()]) this.release(id, reason);
  }

  /** The events of the held chunks a watermark names, positioned at its commit (held until acknowledged). */
  eventsAt(chunkIds: readonly string[], commitLsn: string): ChangeEvent[] {
    const events: ChangeEvent[] = [];
    for (const id of chunkIds) {
      const c = this.held.get(id)?.chunk;
      if (!c) continue; // read by an earlier run of the capture: the snapshotter reads it again
      const position = { lsn: commitLsn, snapshot: c.snapshot, chunkId: c.chunkId, requestId: c.requestId, readTime: c.readTime };
      for (const row of c.rows) events.push({ kind: 'snapshot', table: c.table, key: String(row.id), after: row, position });
      events.push({ kind: 'chunk-end', table: c.table, scope: c.scope, keys: c.rows.map((r) => String(r.id)), markers: 1, markerIndex: 0, position });
    }
    return events;
  }

  /** Events acknowledged downstream: the chunks whose markers are among them are done. */
  acknowledged(events: readonly ChangeEvent[]): void {
    for (const e of events) {
      if (e.kind !== 'chunk-end') continue;
      const h = this.held.get(e.position.chunkId);
      if (h) {
        this.held.delete(e.position.chunkId);
        h.resolve();
      }
    }
  }
}
