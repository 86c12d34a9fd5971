// The offset rules of services/sync/offset-tracker.ts: what a batch repeats, what a gap is, and when
// the offsets of a partition restarted.
import { describe, expect, it } from 'vitest';
import { planBatch, appliedThrough, remainingGap, NEVER_APPLIED, type AppliedOffsets, type TrackedMessage } from '../../../services/sync/offset-tracker.ts';

const msgs = (from: number, to: number, lsnOf: (o: number) => string | null = (o) => `0/${(0x1000 + o * 16).toString(16).toUpperCase()}`): TrackedMessage[] =>
  Array.from({ length: to - from + 1 }, (_, i) => ({ offset: BigInt(from + i), lsn: lsnOf(from + i) }));
const recorded = (next: number, lsn: string | null = null): AppliedOffsets => ({ recorded: true, nextOffset: BigInt(next), appliedLsn: lsn });

describe('planBatch', () => {
  it('applies a batch that starts at the recorded next offset: nothing repeated, no gap', () => {
    expect(planBatch(recorded(10, '0/10A0'), msgs(10, 19))).toEqual({ repeated: 0, gap: null, restart: null });
  });

  it('skips the leading messages some member of the group applied already (redelivery after a crash or rebalance)', () => {
    // recorded next 15 (another member applied 10..14 while this one did not own the partition)
    const plan = planBatch(recorded(15, '0/10F0'), msgs(10, 19));
    expect(plan).toEqual({ repeated: 5, gap: null, restart: null });
  });

  it('skips a batch applied whole', () => {
    expect(planBatch(recorded(30, '0/11D0'), msgs(10, 19))).toEqual({ repeated: 10, gap: null, restart: null });
  });

  it('says a gap when the batch starts above the recorded next offset (retention removed unapplied messages)', () => {
    const plan = planBatch(recorded(10, '0/10A0'), msgs(25, 30));
    expect(plan.restart).toBeNull();
    expect(plan.repeated).toBe(0);
    expect(plan.gap).toEqual({ fromOffset: 10n, toOffset: 24n, newGroup: false });
  });

  it('says a gap for a group that never applied from a partition whose first message is above offset 0', () => {
    expect(planBatch(NEVER_APPLIED, msgs(500, 510)).gap).toEqual({ fromOffset: 0n, toOffset: 499n, newGroup: true });
    // from offset 0 it is the normal first read
    expect(planBatch(NEVER_APPLIED, msgs(0, 10))).toEqual({ repeated: 0, gap: null, restart: null });
  });

  it('says offsets restarted when a message below the recorded next offset carries a newer LSN than any applied (topic recreated)', () => {
    // the group applied through offset 99, LSNs up to 0/5000; the recreated topic starts at 0 with newer changes
    const plan = planBatch(recorded(100, '0/5000'), msgs(0, 9, (o) => `0/${(0x6000 + o).toString(16)}`));
    expect(plan.repeated).toBe(0);
    expect(plan.gap).toBeNull();
    expect(plan.restart).toMatchObject({ recordedNext: 100n, restartAt: 0n });
    expect(plan.restart!.reason).toMatch(/offset 0, below the next offset 100 .* carries source position 0\/6000, newer than any the group applied \(0\/5000\)/);
  });

  it('takes messages of a recreated topic that repeat older positions for repeated, until a newer one comes', () => {
    // a re-publish after a capture restart carries positions the group applied: skipping them loses nothing
    expect(planBatch(recorded(100, '0/5000'), msgs(0, 4, () => '0/4000'))).toEqual({ repeated: 5, gap: null, restart: null });
    expect(planBatch(recorded(100, '0/5000'), msgs(5, 9, (o) => (o < 7 ? '0/4000' : '0/5001'))).restart).toMatchObject({ recordedNext: 100n, restartAt: 5n });
  });

  it('does not take a re-published older event, nor one that could not be decoded, for a restart', () => {
    // after a capture restart the same partition carries older LSNs again; undecodable messages carry none
    const plan = planBatch(recorded(100, '0/5000'), [...msgs(90, 95, () => '0/4FFF'), { offset: 96n, lsn: null }, ...msgs(97, 105, () => '0/5000')]);
    expect(plan).toEqual({ repeated: 10, gap: null, restart: null });
  });

  it('judges LSNs only of the messages below the recorded next offset', () => {
    // messages at and above the next offset are new: their LSNs are newer, as they should be
    expect(planBatch(recorded(100, '0/5000'), msgs(98, 103, (o) => (o < 100 ? '0/4000' : '0/9000')))).toEqual({ repeated: 2, gap: null, restart: null });
  });

  it('an empty batch plans nothing', () => {
    expect(planBatch(recorded(3), [])).toEqual({ repeated: 0, gap: null, restart: null });
  });
});

describe('appliedThrough', () => {
  it('records the next offset after the last message and the highest LSN among them', () => {
    expect(appliedThrough([{ offset: 7n, lsn: '0/20' }, { offset: 8n, lsn: null }, { offset: 9n, lsn: '0/1F' }])).toEqual({ nextOffset: 10n, appliedLsn: '0/20' });
    expect(appliedThrough([{ offset: 7n, lsn: null }])).toEqual({ nextOffset: 8n, appliedLsn: null });
  });
  it('compares LSNs as numbers, not text', () => {
    expect(appliedThrough([{ offset: 1n, lsn: '0/9' }, { offset: 2n, lsn: '0/10' }, { offset: 3n, lsn: '1/0' }]).appliedLsn).toBe('1/0');
  });
});

describe('remainingGap', () => {
  const gap = { fromOffset: 10n, toOffset: 24n, newGroup: false };
  it('stays whole when nobody applied anything meanwhile', () => {
    expect(remainingGap(gap, recorded(10))).toEqual(gap);
  });
  it('shrinks when another member applied part of it meanwhile', () => {
    expect(remainingGap(gap, recorded(20))).toEqual({ ...gap, fromOffset: 20n });
  });
  it('closes when another member applied all of it meanwhile', () => {
    expect(remainingGap(gap, recorded(25))).toBeNull();
  });
});
