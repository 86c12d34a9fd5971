import { describe, expect, it } from 'vitest';
import { ErrorRateWindow } from '../../../services/sync/error-rate.ts';

describe('error-rate window', () => {
  const w = () => new ErrorRateWindow({ threshold: 0.01, windowSeconds: 60, minEvents: 100 });
  it('pauses above 1 % once enough messages are in the window', () => {
    const x = w();
    x.record(50, 2, 0);
    expect(x.breach(0)).toBeNull(); // 4 % but only 50 messages
    x.record(100, 0, 1000);
    expect(x.breach(1000)).toMatch(/1\.33 %/); // 2 of 150
    const y = w();
    y.record(1000, 10, 0);
    expect(y.breach(0)).toBeNull(); // exactly 1 % is not above
    y.record(0, 1, 0);
    expect(y.breach(0)).not.toBeNull();
  });
  it('forgets what left the window', () => {
    const x = w();
    x.record(100, 50, 0);
    expect(x.breach(30_000)).not.toBeNull();
    expect(x.totals(61_000)).toEqual({ processed: 0, failed: 0, ratio: 0 });
    expect(x.breach(61_000)).toBeNull();
  });
  it('finds the message that crosses the threshold among messages about to be recorded', () => {
    const x = new ErrorRateWindow({ threshold: 0.05, windowSeconds: 60, minEvents: 5 });
    const flags = [false, false, false, false, false, false, true, false, false, false];
    expect(x.firstBreach(flags, 0)).toBe(6); // 1 of 7 = 14 %
    expect(x.totals(0)).toEqual({ processed: 0, failed: 0, ratio: 0 }); // the window is unchanged
    // a failure before enough messages are in the window does not cross by itself: the message that
    // brings the window to its minimum does (even a success)
    expect(x.firstBreach([true, false, false, false, false, false], 0)).toBe(4); // 1 of 5 = 20 %
  });
  it('counts what the window already holds', () => {
    const x = new ErrorRateWindow({ threshold: 0.01, windowSeconds: 60, minEvents: 100 });
    x.record(150, 1, 0); // 0.67 %
    expect(x.firstBreach([false, false, true], 0)).toBe(2); // 2 of 153 = 1.31 %
    expect(x.firstBreach([false, false, false], 0)).toBeNull();
    const y = new ErrorRateWindow({ threshold: 0.01, windowSeconds: 60, minEvents: 100 });
    expect(y.firstBreach([true, true, true], 0)).toBeNull(); // too few messages to judge
  });
});
