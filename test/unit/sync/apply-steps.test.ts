import { describe, it, expect } from 'vitest';
import { ApplyStepError, StuckBatches, failedPosition, retryDelayAfter } from '../../../services/sync/apply-steps.ts';
import type { IncomingMessage } from '../../../services/domain/ports.ts';

const kafkaMessage = (offset: string): IncomingMessage => ({ origin: { topic: 't', partition: 0, offset }, key: null, value: null });
const batchAt = (offset: string, partition = 0) => ({ topic: 't', partition, messages: [kafkaMessage(offset)] });

describe('failedPosition', () => {
  it('is the offset after the last one resolved, else the first message\'s offset', () => {
    expect(failedPosition(batchAt('40'), '44')).toBe('45');
    expect(failedPosition(batchAt('40'), null)).toBe('40');
  });

  it('is the first event\'s source position inline, and "unknown" for an empty batch', () => {
    const event = { kind: 'heartbeat', position: { lsn: '0/16B3748', seq: 0, xid: '1', commitTime: '2026-01-01T00:00:00Z' } } as unknown as IncomingMessage['event'];
    expect(failedPosition({ messages: [{ origin: null, key: null, value: null, event }] }, null)).toBe('0/16B3748');
    expect(failedPosition({ messages: [] }, null)).toBe('unknown');
  });
});

describe('retryDelayAfter', () => {
  it('doubles from 250 ms and stays at 5 s', () => {
    expect([1, 2, 3, 4, 5, 6, 10].map(retryDelayAfter)).toEqual([250, 500, 1000, 2000, 4000, 5000, 5000]);
  });
});

describe('StuckBatches', () => {
  it('retries until the last attempt at the same position, then says to pause with the step, place and cause', () => {
    const stuck = new StuckBatches(3);
    const err = new ApplyStepError('snapshot_marker', new Error('check constraint violated'));
    const first = stuck.failed(batchAt('7'), '7', err);
    const second = stuck.failed(batchAt('7'), '7', err);
    const third = stuck.failed(batchAt('7'), '7', err);
    expect([first.attempt, second.attempt, third.attempt]).toEqual([1, 2, 3]);
    expect(first.decision).toEqual({ retryInMs: 250 });
    expect(second.decision).toEqual({ retryInMs: 500 });
    expect(third.decision).toEqual({ pause: 'apply stuck: snapshot_marker failed 3 times on t[0] at offset 7: check constraint violated' });
    expect(third.step).toBe('snapshot_marker');
    // the count starts again after a pause
    expect(stuck.failed(batchAt('7'), '7', err).attempt).toBe(1);
  });

  it('counts again from one when the partition fails at another position, and per partition', () => {
    const stuck = new StuckBatches(3);
    const err = new Error('boom');
    stuck.failed(batchAt('7'), '7', err);
    stuck.failed(batchAt('7'), '7', err);
    expect(stuck.failed(batchAt('9'), '9', err).attempt).toBe(1);
    expect(stuck.failed(batchAt('9', 1), '9', err).attempt).toBe(1);
    expect(stuck.failed(batchAt('9'), '9', err)).toMatchObject({ attempt: 2, step: 'batch', where: 't[0] at offset 9' });
  });

  it('forgets a partition applied whole, and every partition on clear()', () => {
    const stuck = new StuckBatches(3);
    const err = new Error('boom');
    stuck.failed(batchAt('7'), '7', err);
    stuck.failed(batchAt('7', 1), '7', err);
    stuck.succeeded({ topic: 't', partition: 0 });
    expect(stuck.failed(batchAt('7'), '7', err).attempt).toBe(1);
    expect(stuck.failed(batchAt('7', 1), '7', err).attempt).toBe(2);
    stuck.clear();
    expect(stuck.failed(batchAt('7', 1), '7', err).attempt).toBe(1);
  });
});
