import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { ControlLoop, type ControlSnapshot } from '../../../services/runtime/control-loop.ts';
import { silentLogger } from '../../../services/runtime/logger.ts';
import { ControlRowDouble } from '../../support/control-row-double.ts';


describe('the control loop', () => {
  it('reads the control row and the source load once a tick for every component registered', async () => {
    const db = new ControlRowDouble();
    let loadReads = 0;
    const loop = new ControlLoop({ pool: db, sourceLoad: async () => (loadReads++, 7), logger: silentLogger(), intervalMs: 100 });
    const seen: { a: ControlSnapshot[]; b: ControlSnapshot[] } = { a: [], b: [] };
    const leaveA = await loop.register((s) => void seen.a.push(s));
    // a second component registered within the tick gets the same snapshot
    const leaveB = await loop.register((s) => void seen.b.push(s));
    expect(db.reads).toBe(1);
    expect(seen.a[0]).toBe(seen.b[0]);
    expect(seen.a[0]).toMatchObject({ ok: true, control: { paused: false }, sourceLoad: 7 });
    db.row = { ...db.row, paused: true, reason: 'operator' };
    await sleep(250);
    expect(db.reads).toBeGreaterThanOrEqual(2);
    expect(loadReads).toBe(db.reads);
    expect(seen.a.length).toBe(db.reads);
    expect(seen.b.slice(1)).toEqual(seen.a.slice(1));
    expect(seen.a.at(-1)).toMatchObject({ ok: true, control: { paused: true, reason: 'operator' } });
    // ticking ends with the last component
    leaveA();
    leaveB();
    const reads = db.reads;
    await sleep(250);
    expect(db.reads).toBe(reads);
  });

  it('hands on a failed read as such, and says when no source-load query is configured', async () => {
    const db = new ControlRowDouble();
    db.failNextRead = Object.assign(new Error('relation "prestamos_cdc.control" does not exist'), { code: '42P01' });
    const loop = new ControlLoop({ pool: db, logger: silentLogger(), intervalMs: 50 });
    const seen: ControlSnapshot[] = [];
    const leave = await loop.register((s) => void seen.push(s));
    expect(seen[0]).toMatchObject({ ok: false, error: { code: '42P01' } });
    await sleep(120);
    leave();
    expect(seen.at(-1)).toMatchObject({ ok: true, sourceLoad: undefined });
  });

  it('a component that fails on a snapshot does not keep the others from theirs', async () => {
    const db = new ControlRowDouble();
    const loop = new ControlLoop({ pool: db, logger: silentLogger(), intervalMs: 50 });
    let calls = 0;
    let failing = false;
    const leaveA = await loop.register(() => {
      if (failing) throw new Error('boom');
    });
    const leaveB = await loop.register(() => void calls++);
    failing = true;
    await sleep(170);
    leaveA();
    leaveB();
    expect(calls).toBeGreaterThanOrEqual(3);
  });
});
