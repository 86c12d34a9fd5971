import { describe, expect, it } from 'vitest';
import { ChangeDecoder, type Decoded } from '../../../services/capture/change-decoder.ts';
import type { RelationInfo, StreamMessage } from '../../../connectors/postgres/replication-stream.ts';

const rel = (schema: string, name: string): RelationInfo => ({ oid: 1, schema, name, columns: [], keyColumns: ['id'] });
const T = new Date('2026-12-01T10:00:00.000Z');

function decode(messages: StreamMessage[], xidReference = 5000n) {
  const out: { pushed: Decoded[]; commits: number; uncaptured: string[]; watermarks: { ids: string[]; lsn: string }[] } = { pushed: [], commits: 0, uncaptured: [], watermarks: [] };
  const d = new ChangeDecoder({
    push: (i) => out.pushed.push(i),
    committed: () => out.commits++,
    uncaptured: (s, n) => out.uncaptured.push(`${s}.${n}`),
    watermark: (ids, lsn) => out.watermarks.push({ ids, lsn }),
  });
  d.reset(xidReference);
  for (const m of messages) d.onMessage(m);
  return { ...out, decoder: d };
}

describe('change decoder', () => {
  it('gives each change of a transaction its commit position and order, then the boundary', () => {
    const r = decode([
      { tag: 'begin', xid: 4990, commitLsn: '0/100', commitTime: T },
      { tag: 'insert', relation: rel('public', 'Prestamo'), row: { id: 'p1' } },
      { tag: 'update', relation: rel('public', 'PagoPrestamo'), row: { id: 'g1' }, unchangedToast: ['x'], oldKey: null },
      { tag: 'delete', relation: rel('public', 'Multa'), key: { id: 'm1' } },
      { tag: 'commit', commitLsn: '0/100', commitEndLsn: '0/180', commitTime: T },
    ]);
    const pos = (seq: number) => ({ lsn: '0/100', seq, xid: '4990', commitTime: T.toISOString() });
    expect(r.pushed).toEqual([
      { kind: 'change', table: 'Prestamo', op: 'c', key: 'p1', after: { id: 'p1' }, unchangedToast: [], position: pos(1) },
      { kind: 'change', table: 'PagoPrestamo', op: 'u', key: 'g1', after: { id: 'g1' }, unchangedToast: ['x'], position: pos(2) },
      { kind: 'change', table: 'Multa', op: 'd', key: 'm1', after: null, unchangedToast: [], position: pos(3) },
      { boundary: '0/180' },
    ]);
    expect(r.commits).toBe(1);
    expect(r.decoder.inTransaction).toBe(false);
  });

  it('turns a primary-key update into a delete and a create, widens the xid past a wraparound', () => {
    // the horizon is just past 2^32: a 32-bit xid of 10 is the next epoch's
    const r = decode([
      { tag: 'begin', xid: 10, commitLsn: '0/200', commitTime: T },
      { tag: 'update', relation: rel('public', 'Accion'), row: { id: 'new' }, unchangedToast: [], oldKey: { id: 'old' } },
    ], 2n ** 32n + 5n);
    expect(r.pushed.map((e) => ('kind' in e && e.kind === 'change' ? `${e.op}:${e.key}:${e.position.xid}` : 'x'))).toEqual([`d:old:${2n ** 32n + 10n}`, `c:new:${2n ** 32n + 10n}`]);
    expect(r.decoder.inTransaction).toBe(true);
  });

  it('reports rows of relations that are not captured tables, and emits none for them', () => {
    const r = decode([
      { tag: 'begin', xid: 1, commitLsn: '0/300', commitTime: T },
      { tag: 'insert', relation: rel('public', 'Multa_old'), row: { id: 'm' } },
      { tag: 'insert', relation: rel('audit', 'Prestamo'), row: { id: 'p' } },
      { tag: 'truncate', relations: [rel('public', 'Prestamo'), rel('public', 'Other')] },
    ]);
    expect(r.uncaptured).toEqual(['public.Multa_old', 'audit.Prestamo', 'public.Other']);
    expect(r.pushed).toEqual([{ kind: 'truncate', table: 'Prestamo', position: { lsn: '0/300', seq: 1, xid: '1', commitTime: T.toISOString() } }]);
  });

  it('makes heartbeats of the heartbeat row and watermarks of snapshot signals; ignores other own rows', () => {
    const r = decode([
      { tag: 'begin', xid: 7, commitLsn: '0/400', commitTime: T },
      { tag: 'update', relation: rel('prestamos_cdc', 'heartbeat'), row: { id: 1 }, unchangedToast: [], oldKey: null },
      { tag: 'insert', relation: rel('prestamos_cdc', 'signal'), row: { kind: 'snapshot-watermark', payload: '{"chunkIds":["11","12"],"requestId":"3"}' } },
      { tag: 'insert', relation: rel('prestamos_cdc', 'signal'), row: { kind: 'snapshot-watermark', payload: 'not json' } },
      { tag: 'insert', relation: rel('prestamos_cdc', 'signal'), row: { kind: 'other', payload: '{}' } },
      { tag: 'insert', relation: rel('prestamos_cdc', 'snapshot_chunks'), row: { id: 11 } },
    ]);
    expect(r.pushed).toEqual([{ kind: 'heartbeat', position: { lsn: '0/400', seq: 1, xid: '7', commitTime: T.toISOString() } }]);
    expect(r.watermarks).toEqual([{ ids: ['11', '12'], lsn: '0/400' }]);
    expect(r.uncaptured).toEqual([]);
  });

  it('emits nothing for a change outside a transaction (a reconnect starts clean)', () => {
    const r = decode([{ tag: 'insert', relation: rel('public', 'Prestamo'), row: { id: 'p1' } }]);
    expect(r.pushed).toEqual([]);
  });
});
