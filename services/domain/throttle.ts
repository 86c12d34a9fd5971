// Why a part of the pipeline waits: one decision from the signals its collectors gathered, one typed
// reason (or none). The snapshotter waits before its next chunk for a backlog of chunks not yet
// applied, a paused apply, the syncs' end-to-end lag or the source's load; the sync holds its apply for
// the source's load. Checked in that order: the first that holds is the reason.

export type ThrottleReason =
  | { kind: 'snapshot_backlog'; chunks: number; limit: number }
  | { kind: 'apply_paused'; detail: string }
  | { kind: 'lag'; lagSeconds: number; limitSeconds: number }
  | { kind: 'source_load'; load: number; threshold: number };

/** What the collectors saw; a signal left out (undefined or null) does not throttle. */
export interface ThrottleSignals {
  /** snapshot chunks read and not yet applied */
  chunksInFlight?: number;
  /** the apply's pause reason, when it is paused */
  applyPaused?: string | null;
  /** the running syncs' largest end-to-end lag */
  lagSeconds?: number | null;
  /** the source-load query's last value (null: not configured, or it failed) */
  sourceLoad?: number | null;
}

export interface ThrottleLimits {
  maxChunksInFlight?: number;
  maxLagSeconds?: number;
  sourceLoadThreshold?: number | undefined;
}

export function decideThrottle(s: ThrottleSignals, l: ThrottleLimits): ThrottleReason | null {
  if (s.chunksInFlight !== undefined && l.maxChunksInFlight !== undefined && s.chunksInFlight >= l.maxChunksInFlight) {
    return { kind: 'snapshot_backlog', chunks: s.chunksInFlight, limit: l.maxChunksInFlight };
  }
  if (s.applyPaused !== undefined && s.applyPaused !== null) return { kind: 'apply_paused', detail: s.applyPaused };
  if (s.lagSeconds !== undefined && s.lagSeconds !== null && l.maxLagSeconds !== undefined && s.lagSeconds > l.maxLagSeconds) {
    return { kind: 'lag', lagSeconds: s.lagSeconds, limitSeconds: l.maxLagSeconds };
  }
  if (s.sourceLoad !== undefined && s.sourceLoad !== null && l.sourceLoadThreshold !== undefined && s.sourceLoad > l.sourceLoadThreshold) {
    return { kind: 'source_load', load: s.sourceLoad, threshold: l.sourceLoadThreshold };
  }
  return null;
}

/** The reason in words, as the status, the API and the logs report it. */
export function describeThrottle(r: ThrottleReason): string {
  switch (r.kind) {
    case 'snapshot_backlog':
      return `chunks: ${r.chunks} read and not yet applied`;
    case 'apply_paused':
      return `apply paused: ${r.detail}`;
    case 'lag':
      return `lag: end-to-end lag ${r.lagSeconds.toFixed(1)} s above ${r.limitSeconds} s`;
    case 'source_load':
      return `source load ${r.load} above ${r.threshold}`;
  }
}

/** The `reason` labels of prestamos_cdc_throttled, as Grafana's panels and the alerts know them. */
export const THROTTLE_METRIC_LABELS = ['lag', 'source_load', 'snapshot_source_load'] as const;
export type ThrottleMetricLabel = (typeof THROTTLE_METRIC_LABELS)[number];

/**
 * The metric label a reason sets to 1 (null: none — a paused apply has its own metric). The
 * snapshot's wait for the sync (backlog or lag) is `lag`; its wait for the source `snapshot_source_load`;
 * the apply's wait for the source `source_load`.
 */
export function throttleMetricLabel(who: 'snapshot' | 'apply', r: ThrottleReason | null): ThrottleMetricLabel | null {
  if (r === null || r.kind === 'apply_paused') return null;
  if (r.kind === 'source_load') return who === 'snapshot' ? 'snapshot_source_load' : 'source_load';
  return 'lag';
}
