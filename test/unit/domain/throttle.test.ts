import { describe, expect, it } from 'vitest';
import { decideThrottle, describeThrottle, throttleMetricLabel } from '../../../services/domain/throttle.ts';

const limits = { maxChunksInFlight: 4, maxLagSeconds: 30, sourceLoadThreshold: 10 };

describe('throttle decision', () => {
  it('is none when no signal is above its limit, or a signal or limit is missing', () => {
    expect(decideThrottle({ chunksInFlight: 3, applyPaused: null, lagSeconds: 30, sourceLoad: 10 }, limits)).toBeNull();
    expect(decideThrottle({ chunksInFlight: 9, lagSeconds: 99, sourceLoad: 99 }, {})).toBeNull();
    expect(decideThrottle({ lagSeconds: null, sourceLoad: null }, limits)).toBeNull();
  });

  it('gives the first reason that holds: backlog, then a paused apply, then lag, then source load', () => {
    const all = { chunksInFlight: 4, applyPaused: 'operator', lagSeconds: 31, sourceLoad: 11 };
    expect(decideThrottle(all, limits)).toEqual({ kind: 'snapshot_backlog', chunks: 4, limit: 4 });
    expect(decideThrottle({ ...all, chunksInFlight: 0 }, limits)).toEqual({ kind: 'apply_paused', detail: 'operator' });
    expect(decideThrottle({ ...all, chunksInFlight: 0, applyPaused: null }, limits)).toEqual({ kind: 'lag', lagSeconds: 31, limitSeconds: 30 });
    expect(decideThrottle({ ...all, chunksInFlight: 0, applyPaused: null, lagSeconds: 1 }, limits)).toEqual({ kind: 'source_load', load: 11, threshold: 10 });
    // an empty pause reason still pauses
    expect(decideThrottle({ applyPaused: '' }, limits)).toEqual({ kind: 'apply_paused', detail: '' });
  });

  it('says why in the words the status and the API report, and sets the metric label of its kind', () => {
    expect(describeThrottle({ kind: 'snapshot_backlog', chunks: 4, limit: 4 })).toBe('chunks: 4 read and not yet applied');
    expect(describeThrottle({ kind: 'lag', lagSeconds: 31.04, limitSeconds: 30 })).toBe('lag: end-to-end lag 31.0 s above 30 s');
    expect(describeThrottle({ kind: 'source_load', load: 11, threshold: 10 })).toBe('source load 11 above 10');
    expect(describeThrottle({ kind: 'apply_paused', detail: 'x' })).toBe('apply paused: x');
    expect(throttleMetricLabel('snapshot', { kind: 'snapshot_backlog', chunks: 4, limit: 4 })).toBe('lag');
    expect(throttleMetricLabel('snapshot', { kind: 'lag', lagSeconds: 31, limitSeconds: 30 })).toBe('lag');
    expect(throttleMetricLabel('snapshot', { kind: 'source_load', load: 11, threshold: 10 })).toBe('snapshot_source_load');
    expect(throttleMetricLabel('apply', { kind: 'source_load', load: 11, threshold: 10 })).toBe('source_load');
    expect(throttleMetricLabel('snapshot', { kind: 'apply_paused', detail: 'x' })).toBeNull();
    expect(throttleMetricLabel('apply', null)).toBeNull();
  });
});
