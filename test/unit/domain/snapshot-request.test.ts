import { describe, expect, it } from 'vitest';
import { canMove, isFinal, statesLeadingTo, SNAPSHOT_REQUEST_STATES, FINAL_SNAPSHOT_STATES } from '../../../services/domain/snapshot-request.ts';

describe('snapshot request states', () => {
  it('moves forward only: pending → running → emitted → applied, and never out of a final state', () => {
    expect(canMove('pending', 'running')).toBe(true);
    expect(canMove('running', 'emitted')).toBe(true);
    expect(canMove('running', 'applied')).toBe(true);
    expect(canMove('emitted', 'applied')).toBe(true);
    expect(canMove('emitted', 'running')).toBe(false);
    expect(canMove('pending', 'applied')).toBe(false);
    for (const end of FINAL_SNAPSHOT_STATES) for (const to of SNAPSHOT_REQUEST_STATES) expect(canMove(end, to)).toBe(false);
  });

  it('fails only what has not been emitted, cancels anything not yet at an end', () => {
    expect(statesLeadingTo('failed')).toEqual(['pending', 'running']);
    expect(statesLeadingTo('cancelled')).toEqual(['pending', 'running', 'emitted']);
    expect(statesLeadingTo('running')).toEqual(['pending', 'running']);
    expect(SNAPSHOT_REQUEST_STATES.filter(isFinal)).toEqual(['applied', 'failed', 'cancelled']);
  });
});
