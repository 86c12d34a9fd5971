import { describe, expect, it } from 'vitest';
import { withDeadline, KafkaDeadlineError } from '../../../connectors/kafka/deadline.ts';

describe('withDeadline', () => {
  it('fails a call that never settles once the deadline has passed, saying what it was', async () => {
    const never = new Promise<void>(() => undefined);
    const t0 = Date.now();
    const err = await withDeadline(never, 50, 'a produce request').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(KafkaDeadlineError);
    expect((err as Error).message).toBe('a produce request: no answer from Kafka within 50 ms');
    expect(Date.now() - t0).toBeGreaterThanOrEqual(45);
  });

  it('passes on the outcome of a call that settles in time, value or error', async () => {
    expect(await withDeadline(Promise.resolve(7), 1000, 'x')).toBe(7);
    await expect(withDeadline(Promise.reject(new Error('refused')), 1000, 'x')).rejects.toThrow('refused');
  });

  it('ignores a failure that comes after the deadline (no unhandled rejection)', async () => {
    let fail!: (e: Error) => void;
    const late = new Promise<void>((_, reject) => (fail = reject));
    await expect(withDeadline(late, 10, 'x')).rejects.toBeInstanceOf(KafkaDeadlineError);
    fail(new Error('too late'));
    await new Promise((r) => setTimeout(r, 20));
  });
});
