// A database double for the control-loop unit tests: the control row in memory, reads counted, the
// pause write held until released when asked; the other statements of the sync's control answer
// empty. No test-runner imports here.
import type { QueryResult } from 'pg';
import type { Queryable } from '../../services/runtime/queryable.ts';

export class ControlRowDouble implements Queryable {
  row = { paused: false, reason: null as string | null, changed_by: null as string | null, changed_at: '2026-12-01 10:00:00+00' };
  reads = 0;
  /** a read fails with this (then clears it) */
  failNextRead: (Error & { code?: string }) | null = null;
  /** while set, a pause write waits for releaseWrites() */
  holdWrites = false;
  private held: (() => void)[] = [];

  releaseWrites(): void {
    this.holdWrites = false;
    for (const r of this.held.splice(0)) r();
  }

  async query(text: string, values?: unknown[]): Promise<QueryResult> {
    const rows: Record<string, unknown>[] = [];
    if (/FROM prestamos_cdc\.control/.test(text) && /^\s*SELECT/.test(text)) {
      this.reads++;
      const fail = this.failNextRead;
      this.failNextRead = null;
      if (fail) throw fail;
      rows.push({ ...this.row });
    } else if (/INSERT INTO prestamos_cdc\.control/.test(text)) {
      if (this.holdWrites) await new Promise<void>((r) => this.held.push(r));
      const [paused, reason, by] = values as [boolean, string | null, string];
      this.row = { ...this.row, paused, reason, changed_by: by };
    } else if (/failed_records/.test(text)) {
      rows.push({ n: '0' });
    }
    return { rows, rowCount: rows.length, command: '', oid: 0, fields: [] };
  }
}
