import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { SyncControl } from '../../../services/sync/sync-control.ts';
import type { ControlSnapshot } from '../../../services/runtime/control-loop.ts';
import { readControl } from '../../../services/runtime/control-plane.ts';
import type { SyncStatus } from '../../../services/domain/component-status.ts';
import { createMetrics } from '../../../services/runtime/metrics.ts';
import { silentLogger } from '../../../services/runtime/logger.ts';
import { ControlRowDouble } from '../../support/control-row-double.ts';

function setUp(sourceLoadThreshold?: number) {
  const db = new ControlRowDouble();
  const source = { paused: false, pause: () => void (source.paused = true), resume: () => void (source.paused = false) };
  const status = { state: 'running', paused: false, pausedReason: null, throttled: false, throttleReason: null, errorRatio: 0 } as unknown as SyncStatus;
  let resumes = 0;
  const control = new SyncControl({
    pool: db, instance: 'i1', source, status, sourceLoadThreshold, logger: silentLogger(), metrics: createMetrics({ defaultMetrics: false }),
    onResume: () => void resumes++, errorRatio: () => 0.25, lagSeconds: () => 0, getStatus: () => status,
  });
  /** a snapshot as the control loop reads it; `startedAt` to date its read */
  const snapshot = async (sourceLoad?: number | null, startedAt = performance.now()): Promise<ControlSnapshot> =>
    ({ ok: true, readStartedAt: startedAt, control: await readControl(db), sourceLoad });
  return { db, source, status, control, snapshot, resumes: () => resumes };
}

describe("the sync's control", () => {
  it('follows the control row: paused holds the source, resumed lets it go and starts the error window again', async () => {
    const t = setUp();
    t.db.row = { ...t.db.row, paused: true, reason: 'operator says so' };
    await t.control.onSnapshot(await t.snapshot());
    expect(t.control.paused).toBe(true);
    expect(t.source.paused).toBe(true);
    expect(t.status).toMatchObject({ state: 'paused', paused: true, pausedReason: 'operator says so', errorRatio: 0.25 });
    t.db.row = { ...t.db.row, paused: false, reason: null };
    await t.control.onSnapshot(await t.snapshot());
    expect(t.control.paused).toBe(false);
    expect(t.source.paused).toBe(false);
    expect(t.resumes()).toBe(1);
    expect(t.status).toMatchObject({ state: 'running', paused: false, pausedReason: null });
  });

  it('a pause it decides is not undone by a snapshot read before the pause was recorded', async () => {
    const t = setUp();
    const before = await t.snapshot(undefined, performance.now());
    t.db.holdWrites = true;
    t.control.pause('error rate above the threshold', 'apply paused');
    expect(t.source.paused).toBe(true);
    // read before the pause: it says "not paused"
    await t.control.onSnapshot(before);
    expect(t.control.paused).toBe(true);
    // read while the write is not yet recorded: neither
    await t.control.onSnapshot(await t.snapshot());
    expect(t.control.paused).toBe(true);
    expect(t.status).toMatchObject({ paused: true, pausedReason: 'error rate above the threshold' });
    t.db.releaseWrites();
    await sleep(5);
    expect(t.db.row).toMatchObject({ paused: true, reason: 'error rate above the threshold', changed_by: 'sync i1' });
    // dated before the write was recorded, still ignored; read after it, followed
    await t.control.onSnapshot(before);
    expect(t.control.paused).toBe(true);
    t.db.row = { ...t.db.row, paused: false, reason: null };
    await t.control.onSnapshot(await t.snapshot());
    expect(t.control.paused).toBe(false);
    expect(t.source.paused).toBe(false);
  });

  it('holds the apply while the source load is above its threshold, and says why', async () => {
    const t = setUp(10);
    await t.control.onSnapshot(await t.snapshot(25));
    expect(t.source.paused).toBe(true);
    expect(t.status).toMatchObject({ state: 'running', throttled: true, throttleReason: 'source load 25 above 10' });
    await t.control.onSnapshot(await t.snapshot(null));
    expect(t.source.paused).toBe(false);
    expect(t.status).toMatchObject({ throttled: false, throttleReason: null });
  });

  it('changes nothing on a failed read', async () => {
    const t = setUp();
    await t.control.onSnapshot({ ok: false, readStartedAt: performance.now(), error: Object.assign(new Error('missing'), { code: '42P01' }) });
    expect(t.source.paused).toBe(false);
    expect(t.status).toMatchObject({ paused: false, errorRatio: 0 });
  });
});
