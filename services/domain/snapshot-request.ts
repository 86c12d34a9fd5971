// The life of a snapshot request (a first load, a table re-sync after a gap, one loan on demand):
//
//   pending ──▶ running ──▶ emitted ──▶ applied
//      │           │           │
//      └───────────┴───────────┴──▶ cancelled   (its loan was rolled back: nothing to migrate)
//      pending / running ──────────▶ failed      (SNAPSHOT_MAX_ATTEMPTS failed in a row at one place; error kept)
//
// running → applied directly when the sync applied every chunk before the capture finished emitting;
// running stays running across restarts (the cursor resumes it). applied, failed and cancelled are
// final. The SQL that moves a request is in services/runtime/snapshot-requests.ts, one statement per
// transition, each guarded by the states it may leave.

export const SNAPSHOT_REQUEST_STATES = ['pending', 'running', 'emitted', 'applied', 'failed', 'cancelled'] as const;
export type SnapshotRequestState = (typeof SNAPSHOT_REQUEST_STATES)[number];

/** States a request never leaves. */
export const FINAL_SNAPSHOT_STATES = ['applied', 'failed', 'cancelled'] as const satisfies readonly SnapshotRequestState[];

const NEXT: Record<SnapshotRequestState, readonly SnapshotRequestState[]> = {
  pending: ['running', 'failed', 'cancelled'],
  running: ['running', 'emitted', 'applied', 'failed', 'cancelled'],
  emitted: ['applied', 'cancelled'],
  applied: [],
  failed: [],
  cancelled: [],
};

/** The states from which a request may move to `to`. */
export function statesLeadingTo(to: SnapshotRequestState): SnapshotRequestState[] {
  return SNAPSHOT_REQUEST_STATES.filter((from) => NEXT[from].includes(to));
}

export function canMove(from: SnapshotRequestState, to: SnapshotRequestState): boolean {
  return NEXT[from].includes(to);
}

export function isFinal(state: SnapshotRequestState): boolean {
  return (FINAL_SNAPSHOT_STATES as readonly SnapshotRequestState[]).includes(state);
}

/** Consecutive failed attempts at one request after which it is failed (its last error recorded). */
export const SNAPSHOT_MAX_ATTEMPTS = 10;
