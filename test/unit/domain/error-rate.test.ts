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
});
