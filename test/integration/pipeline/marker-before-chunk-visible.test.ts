// A snapshot chunk's row is committed with its watermark, and its marker exists only because that
// commit came through the replication stream. The WAL sender sends a commit once its record is
// flushed, a moment before the committing transaction becomes visible to other sessions: a marker
// applied at once (inline, under load) can look for its chunk in that moment. It must wait for the
// chunk, not ignore the marker (the request would then never complete). Here the chunk's transaction
// commits only after the sync has been given the marker.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import { createTestDatabase, type TestDatabase } from '../../support/database.ts';
import { waitFor } from '../../support/pipeline.ts';
import { ScriptedSource, scriptedBatch, syncOver } from '../../support/scripted-source.ts';
import type { ChangeEvent } from '../../../services/domain/change-event.ts';

let db: TestDatabase;
let pool: pg.Pool;
beforeAll(async () => {
  db = await createTestDatabase('migrated');
  pool = new pg.Pool({ connectionString: db.url, max: 4 });
  pool.on('error', () => undefined);
});
afterAll(async () => {
  await pool?.end();
  await db?.drop();
});

describe('a snapshot marker that arrives before its chunk is visible', () => {
  it('waits for the chunk and completes it, and the request with it', async () => {
    const writer = await pool.connect();
    let committed = false;
    try {
      await writer.query('BEGIN');
      const request = await writer.query<{ id: string }>(
        `INSERT INTO prestamos_cdc.snapshot_requests (scope, tables, reason, requested_by, status)
         VALUES ('tables', ARRAY['Prestamo'], 'test', 'test', 'emitted') RETURNING id::text`,
      );
      const chunk = await writer.query<{ id: string; snapshot: string }>(
        `INSERT INTO prestamos_cdc.snapshot_chunks (request_id, source_table, snapshot, row_count, emitted_at)
         VALUES ($1, 'Prestamo', pg_current_snapshot(), 0, now()) RETURNING id::text, snapshot::text`,
        [request.rows[0]!.id],
      );
      const marker: ChangeEvent = {
        kind: 'chunk-end',
        table: 'Prestamo',
        scope: { kind: 'range', afterKey: null, throughKey: null },
        keys: [],
        markers: 1,
        markerIndex: 0,
        position: { lsn: '0/1000', snapshot: chunk.rows[0]!.snapshot, chunkId: chunk.rows[0]!.id, requestId: request.rows[0]!.id, readTime: new Date().toISOString() },
      };
      const source = new ScriptedSource([scriptedBatch('t.public.Prestamo', 0, [marker])]);
      const sync = syncOver(pool, source, 'marker-visibility-test');
      await sync.start();
      try {
        // the marker is being applied while the chunk is still invisible to the sync
        await new Promise((r) => setTimeout(r, 300));
        expect(source.delivered).toBe(0);
        await writer.query('COMMIT');
        committed = true;
        await waitFor('the marker to be applied', async () => source.delivered === 1, 30_000);
      } finally {
        await sync.stop();
      }
      const c = await pool.query<{ markers_applied: number; applied: boolean }>(
        `SELECT markers_applied, applied_at IS NOT NULL AS applied FROM prestamos_cdc.snapshot_chunks WHERE id = $1`,
        [chunk.rows[0]!.id],
      );
      expect(c.rows[0]).toEqual({ markers_applied: 1, applied: true });
      const r = await pool.query<{ status: string }>(`SELECT status FROM prestamos_cdc.snapshot_requests WHERE id = $1`, [request.rows[0]!.id]);
      expect(r.rows[0]!.status).toBe('applied');
    } finally {
      if (!committed) await writer.query('ROLLBACK').catch(() => undefined);
      writer.release();
    }
  });
});
