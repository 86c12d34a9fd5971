import { describe, expect, it } from 'vitest';
import { ChunkRendezvous, type HeldChunk } from '../../../services/capture/chunk-rendezvous.ts';

const chunk = (id: string, keys: string[]): HeldChunk => ({
  chunkId: id, requestId: 'r1', table: 'Prestamo', rows: keys.map((k) => ({ id: k })),
  scope: { kind: 'range', afterKey: null, throughKey: keys[keys.length - 1] ?? null }, snapshot: '10:12:', readTime: '2026-12-01T10:00:00.000Z',
});

describe('chunk rendezvous', () => {
  it('emits a held chunk at its watermark (rows, then the marker) and resolves it once the marker is acknowledged', async () => {
    const r = new ChunkRendezvous();
    let done = false;
    const held = r.hold(chunk('7', ['a', 'b'])).then(() => (done = true));
    const events = r.eventsAt(['7', '99'], '0/500');
    expect(events.map((e) => e.kind)).toEqual(['snapshot', 'snapshot', 'chunk-end']);
    expect(events[2]).toMatchObject({ keys: ['a', 'b'], position: { lsn: '0/500', chunkId: '7', snapshot: '10:12:' } });
    r.acknowledged(events.slice(0, 2));
    await Promise.resolve();
    expect(done).toBe(false);
    // emitted again (the server re-sent the watermark after a reconnect) until acknowledged
    expect(r.eventsAt(['7'], '0/500')).toHaveLength(3);
    r.acknowledged(events);
    await held;
    expect(done).toBe(true);
    expect(r.eventsAt(['7'], '0/500')).toEqual([]);
  });

  it('rejects a released chunk, and every chunk at a stop', async () => {
    const r = new ChunkRendezvous();
    const a = r.hold(chunk('1', ['a']));
    const b = r.hold(chunk('2', ['b']));
    r.release('1', new Error('abandoned'));
    await expect(a).rejects.toThrow('abandoned');
    r.releaseAll(new Error('capture stopped'));
    await expect(b).rejects.toThrow('capture stopped');
    expect(r.eventsAt(['1', '2'], '0/1')).toEqual([]);
  });
});
