import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { PublishBuffer, type StreamFlow } from '../../../services/capture/publish-buffer.ts';
import type { ChangeEvent } from '../../../services/domain/change-event.ts';
import { createMetrics } from '../../../services/runtime/metrics.ts';
import { silentLogger } from '../../../services/runtime/logger.ts';

const change = (key: string, lsn: string): ChangeEvent => ({
  kind: 'change', table: 'Prestamo', key, op: 'u', after: { id: key }, unchangedToast: [],
  position: { lsn, xid: '900', seq: 1, commitTime: new Date().toISOString() },
});
/** Polls a condition every few milliseconds (fails after 5 s). */
async function until(condition: () => boolean): Promise<void> {
  const deadline = Date.now() + 5000;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met within 5 s');
    await sleep(5);
  }
}
const keyOf = (e: ChangeEvent) => (e as { key: string }).key;

function setUp(o: { batch?: number; maxBuffered?: number; fail?: (call: number) => boolean } = {}) {
  const published: string[][] = [];
  const confirmed: string[] = [];
  const acknowledged: string[][] = [];
  let calls = 0;
  let release: (() => void) | null = null;
  let hold = false;
  const buffer = new PublishBuffer({
    publisher: {
      publish: async (events: ChangeEvent[]) => {
        calls++;
        if (hold) await new Promise<void>((r) => (release = r));
        if (o.fail?.(calls)) throw new Error(`refused ${calls}`);
        published.push(events.map(keyOf));
      },
    },
    config: { publishBatchSize: o.batch ?? 2, maxBufferedChanges: o.maxBuffered ?? 100 },
    logger: silentLogger(),
    metrics: createMetrics({ defaultMetrics: false }),
    acknowledged: (b) => acknowledged.push(b.map(keyOf)),
    confirm: async (lsn) => void confirmed.push(lsn),
  });
  return {
    buffer, published, confirmed, acknowledged,
    holdPublishes: () => (hold = true),
    releasePublish: () => {
      hold = false;
      release?.();
    },
  };
}

describe('the publish buffer', () => {
  it('publishes in batches, in order, and confirms a boundary only once its batch is acknowledged', async () => {
    const t = setUp({ batch: 2 });
    t.holdPublishes();
    t.buffer.push(change('a', '0/10'));
    t.buffer.push({ boundary: '0/18' });
    t.buffer.push(change('b', '0/20'));
    t.buffer.push(change('c', '0/20'));
    t.buffer.push({ boundary: '0/28' });
    t.buffer.scheduleFlush();
    await until(() => !t.buffer.idle && t.buffer.bufferedEvents === 1);
    expect(t.confirmed).toEqual([]);
    t.releasePublish();
    await until(() => t.buffer.idle);
    expect(t.published).toEqual([['a', 'b'], ['c']]);
    expect(t.acknowledged).toEqual([['a', 'b'], ['c']]);
    expect(t.confirmed).toEqual(['0/18', '0/28']);
    expect(t.buffer.status()).toMatchObject({ published: 3, publishFailing: false, bufferedEvents: 0 });
  });

  it('keeps a failed batch at the front and publishes it again after the backoff, confirming nothing meanwhile', async () => {
    const t = setUp({ batch: 10, fail: (n) => n === 1 });
    t.buffer.push(change('a', '0/10'));
    t.buffer.push({ boundary: '0/18' });
    t.buffer.scheduleFlush();
    await until(() => t.buffer.publishFailing);
    expect(t.buffer.status()).toMatchObject({ publishFailing: true, lastPublishError: 'refused 1', bufferedEvents: 1 });
    t.buffer.push(change('b', '0/20'));
    t.buffer.push({ boundary: '0/28' });
    expect(t.confirmed).toEqual([]);
    await until(() => t.buffer.idle && t.confirmed.length > 0);
    expect(t.published).toEqual([['a', 'b']]);
    expect(t.confirmed).toEqual(['0/28']);
    expect(t.buffer.publishFailing).toBe(false);
  });

  it('pauses the connection while too many changes wait, and resumes it once half are acknowledged', async () => {
    const t = setUp({ batch: 2, maxBuffered: 4 });
    let paused = false;
    const stream: StreamFlow = { pause: () => (paused = true), resume: () => (paused = false), isPaused: () => paused };
    t.buffer.attach(stream);
    t.holdPublishes();
    for (const k of ['a', 'b', 'c', 'd']) t.buffer.push(change(k, '0/10'));
    expect(paused).toBe(true);
    t.releasePublish();
    await until(() => t.buffer.idle);
    expect(paused).toBe(false);
  });

  it('does not confirm a batch read from a connection that is no longer the current one', async () => {
    const t = setUp({ batch: 10 });
    const flow: StreamFlow = { pause: () => undefined, resume: () => undefined, isPaused: () => false };
    t.buffer.attach(flow);
    t.holdPublishes();
    t.buffer.push(change('a', '0/10'));
    t.buffer.push({ boundary: '0/18' });
    t.buffer.scheduleFlush();
    await until(() => !t.buffer.idle && t.buffer.bufferedEvents === 0);
    t.buffer.attach(undefined);
    t.releasePublish();
    await t.buffer.settle();
    expect(t.published).toEqual([['a']]);
    expect(t.confirmed).toEqual([]);
  });

  it('drains what is buffered at the stop, and stops at the first failure', async () => {
    const ok = setUp({ batch: 1 });
    ok.buffer.push(change('a', '0/10'));
    ok.buffer.push(change('b', '0/10'));
    ok.buffer.push({ boundary: '0/18' });
    expect(await ok.buffer.drain(Date.now() + 5000)).toBe(true);
    expect(ok.published).toEqual([['a'], ['b']]);
    expect(ok.confirmed).toEqual(['0/18']);
    const failing = setUp({ batch: 1, fail: () => true });
    failing.buffer.push(change('a', '0/10'));
    expect(await failing.buffer.drain(Date.now() + 5000)).toBe(false);
    expect(failing.buffer.bufferedEvents).toBe(1);
  });
});
