import { describe, it, expect } from 'vitest';
import { EventBudget } from '../../../services/sync/event-budget.ts';

const tick = () => new Promise((r) => setImmediate(r));

describe('EventBudget', () => {
  it('grants shares while they fit, and the next waiting one when a share is given back', async () => {
    const budget = new EventBudget(10);
    const a = await budget.acquire(4);
    const b = await budget.acquire(6);
    expect(budget.inUse).toBe(10);
    let cGranted = false;
    const c = budget.acquire(3).then((release) => ((cGranted = true), release));
    await tick();
    expect(cGranted).toBe(false);
    a();
    a(); // given back once only
    const releaseC = await c;
    expect(cGranted).toBe(true);
    expect(budget.inUse).toBe(9);
    b();
    releaseC();
    expect(budget.inUse).toBe(0);
  });

  it('runs a batch larger than the whole budget alone', async () => {
    const budget = new EventBudget(10);
    const small = await budget.acquire(2);
    let bigGranted = false;
    const big = budget.acquire(50).then((release) => ((bigGranted = true), release));
    await tick();
    expect(bigGranted).toBe(false);
    small();
    const releaseBig = await big;
    expect(budget.inUse).toBe(50);
    let otherGranted = false;
    const other = budget.acquire(1).then((release) => ((otherGranted = true), release));
    await tick();
    expect(otherGranted).toBe(false);
    releaseBig();
    (await other)();
    expect(otherGranted).toBe(true);
    expect(budget.inUse).toBe(0);
  });

  it('grants in the order asked: a small share does not pass a large one waiting', async () => {
    const budget = new EventBudget(10);
    const first = await budget.acquire(8);
    const order: string[] = [];
    const large = budget.acquire(9).then((r) => (order.push('large'), r));
    const small = budget.acquire(1).then((r) => (order.push('small'), r));
    await tick();
    expect(order).toEqual([]); // the small one would fit, but the large one asked first
    first();
    const releaseLarge = await large;
    releaseLarge();
    (await small)();
    expect(order).toEqual(['large', 'small']);
  });

  it('refuses a capacity below one', () => {
    expect(() => new EventBudget(0)).toThrow(/at least 1/);
  });
});
