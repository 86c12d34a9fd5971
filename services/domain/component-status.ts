// The status a capture or a sync process writes to prestamos_cdc.components (sync every second,
// capture every two seconds) and other processes read back: the reconciler (progress, live state,
// cutover checks), the snapshotter (the syncs' lag throttles it), the catch-up waits (heartbeats
// applied). One schema for the writer and every reader; what is read is parsed field by field, so a
// row written by another version of the process (a field missing or of another type) reads as the
// field's neutral value instead of a wrong one.

/** A component whose last report is older than this is not counted as running. */
export const COMPONENT_FRESH_SECONDS = 15;

/** A captured table renamed, dropped or no longer published: its changes are not captured. */
export interface CapturedTableAlert {
  table: string;
  problem: 'missing' | 'not_published';
  detail: string;
  since: string;
}

export interface CaptureStatus {
  state: 'waiting_for_start' | 'connecting' | 'streaming' | 'reconnecting' | 'stopped';
  confirmedLsn: string | null;
  bufferedEvents: number;
  streamPaused: boolean;
  publishFailing: boolean;
  lastPublishError: string | null;
  lastPublishedAt: string | null;
  published: number;
  restarts: number;
  /** why the snapshot running in this process waits before its next chunk (null: it does not wait) */
  snapshotThrottled: string | null;
  capturedTableAlerts: CapturedTableAlert[];
}

export interface OffsetGapReport {
  topic: string;
  partition: number;
  fromOffset: string;
  toOffset: string;
  newGroup: boolean;
  at: string;
}

export interface OffsetRestartReport {
  topic: string;
  partition: number;
  recordedNext: string;
  restartAt: string;
  reason: string;
  at: string;
}

export interface SyncStatus {
  state: 'starting' | 'running' | 'paused' | 'stopped' | 'failed';
  paused: boolean;
  pausedReason: string | null;
  throttled: boolean;
  throttleReason: string | null;
  lagSeconds: number;
  lastAppliedAt: string | null;
  applied: number;
  failed: number;
  errorRatio: number;
  gaps: OffsetGapReport[];
  /** partitions whose offsets restarted below those the group applied (topic recreated, broker data loss) */
  offsetRestarts: OffsetRestartReport[];
  lastError: string | null;
  /**
   * Commit time of the newest heartbeat applied on every partition this sync owns: every change
   * committed before it has been applied (null until each owned partition has carried one).
   */
  lastHeartbeatAt: string | null;
  /** the Kafka consumer group whose applied offsets are in prestamos_cdc.consumer_offsets (null inline) */
  groupId: string | null;
}

interface Reported {
  instance: string;
  startedAt: string;
  lastSeen: string;
  ageSeconds: number;
}

/** A row of prestamos_cdc.components, its status parsed by the component's schema. */
export type ComponentReport = (Reported & { component: 'capture'; status: CaptureStatus }) | (Reported & { component: 'sync'; status: SyncStatus });

const CAPTURE_STATES: readonly CaptureStatus['state'][] = ['waiting_for_start', 'connecting', 'streaming', 'reconnecting', 'stopped'];
const SYNC_STATES: readonly SyncStatus['state'][] = ['starting', 'running', 'paused', 'stopped', 'failed'];

type Raw = Record<string, unknown>;
const text = (r: Raw, k: string): string | null => (typeof r[k] === 'string' ? (r[k] as string) : null);
const num = (r: Raw, k: string): number => (typeof r[k] === 'number' && Number.isFinite(r[k]) ? (r[k] as number) : 0);
const flag = (r: Raw, k: string): boolean => r[k] === true;
const list = (r: Raw, k: string): Raw[] => (Array.isArray(r[k]) ? (r[k] as unknown[]).filter((x): x is Raw => typeof x === 'object' && x !== null) : []);
const oneOf = <T extends string>(value: unknown, allowed: readonly T[], fallback: T): T => (allowed.includes(value as T) ? (value as T) : fallback);
const asRaw = (raw: unknown): Raw => (typeof raw === 'object' && raw !== null && !Array.isArray(raw) ? (raw as Raw) : {});

export function parseCaptureStatus(raw: unknown): CaptureStatus {
  const r = asRaw(raw);
  return {
    state: oneOf(r.state, CAPTURE_STATES, 'stopped'),
    confirmedLsn: text(r, 'confirmedLsn'),
    bufferedEvents: num(r, 'bufferedEvents'),
    streamPaused: flag(r, 'streamPaused'),
    publishFailing: flag(r, 'publishFailing'),
    lastPublishError: text(r, 'lastPublishError'),
    lastPublishedAt: text(r, 'lastPublishedAt'),
    published: num(r, 'published'),
    restarts: num(r, 'restarts'),
    snapshotThrottled: text(r, 'snapshotThrottled'),
    capturedTableAlerts: list(r, 'capturedTableAlerts').map((a) => ({
      table: text(a, 'table') ?? '',
      problem: oneOf(a.problem, ['missing', 'not_published'] as const, 'missing'),
      detail: text(a, 'detail') ?? '',
      since: text(a, 'since') ?? '',
    })),
  };
}

export function parseSyncStatus(raw: unknown): SyncStatus {
  const r = asRaw(raw);
  return {
    state: oneOf(r.state, SYNC_STATES, 'stopped'),
    paused: flag(r, 'paused'),
    pausedReason: text(r, 'pausedReason'),
    throttled: flag(r, 'throttled'),
    throttleReason: text(r, 'throttleReason'),
    lagSeconds: num(r, 'lagSeconds'),
    lastAppliedAt: text(r, 'lastAppliedAt'),
    applied: num(r, 'applied'),
    failed: num(r, 'failed'),
    errorRatio: num(r, 'errorRatio'),
    gaps: list(r, 'gaps').map((g) => ({
      topic: text(g, 'topic') ?? '',
      partition: num(g, 'partition'),
      fromOffset: text(g, 'fromOffset') ?? '',
      toOffset: text(g, 'toOffset') ?? '',
      newGroup: flag(g, 'newGroup'),
      at: text(g, 'at') ?? '',
    })),
    offsetRestarts: list(r, 'offsetRestarts').map((g) => ({
      topic: text(g, 'topic') ?? '',
      partition: num(g, 'partition'),
      recordedNext: text(g, 'recordedNext') ?? '',
      restartAt: text(g, 'restartAt') ?? '',
      reason: text(g, 'reason') ?? '',
      at: text(g, 'at') ?? '',
    })),
    lastError: text(r, 'lastError'),
    lastHeartbeatAt: text(r, 'lastHeartbeatAt'),
    groupId: text(r, 'groupId'),
  };
}

export type CaptureReport = Extract<ComponentReport, { component: 'capture' }>;
export type SyncReport = Extract<ComponentReport, { component: 'sync' }>;
/** What a process writes about itself. */
export type ComponentStatusWrite = { component: 'capture'; status: CaptureStatus } | { component: 'sync'; status: SyncStatus };

/** A components row as read from the table; null for a component name this version does not know. */
export function parseComponentReport(row: Reported & { component: string; status: unknown }): ComponentReport | null {
  const { component, status, ...reported } = row;
  if (component === 'capture') return { ...reported, component, status: parseCaptureStatus(status) };
  if (component === 'sync') return { ...reported, component, status: parseSyncStatus(status) };
  return null;
}
