import { describe, expect, it } from 'vitest';
import { parseCaptureStatus, parseComponentReport, parseSyncStatus, type CaptureStatus, type SyncStatus } from '../../../services/domain/component-status.ts';

const capture: CaptureStatus = {
  state: 'streaming', confirmedLsn: '0/16B3748', bufferedEvents: 12, streamPaused: false, publishFailing: true,
  lastPublishError: 'timeout', lastPublishedAt: '2026-12-01T10:00:00.000Z', published: 4000, restarts: 1,
  snapshotThrottled: 'lag: end-to-end lag 31.0 s above 30 s',
  capturedTableAlerts: [{ table: 'Multa', problem: 'not_published', detail: 'not in the publication', since: '2026-12-01T09:00:00.000Z' }],
};
const sync: SyncStatus = {
  state: 'paused', paused: true, pausedReason: 'operator', throttled: false, throttleReason: null, lagSeconds: 1.5,
  lastAppliedAt: '2026-12-01T10:00:00.000Z', applied: 9000, failed: 2, errorRatio: 0.001,
  gaps: [{ topic: 'p.public.Prestamo', partition: 2, fromOffset: '10', toOffset: '19', newGroup: false, at: '2026-12-01T09:30:00.000Z' }],
  offsetRestarts: [], lastError: null, lastHeartbeatAt: '2026-12-01T09:59:59.000Z', groupId: 'g1',
};

describe('component status', () => {
  it('reads back what the process wrote, through JSON as the table stores it', () => {
    expect(parseCaptureStatus(JSON.parse(JSON.stringify(capture)))).toEqual(capture);
    expect(parseSyncStatus(JSON.parse(JSON.stringify(sync)))).toEqual(sync);
  });

  it('reads a field missing or of another type (another version wrote it) as its neutral value', () => {
    const s = parseSyncStatus({ state: 'draining', applied: '12', lagSeconds: null, throttled: 'yes', gaps: 'none', groupId: 7 });
    expect(s).toMatchObject({ state: 'stopped', applied: 0, lagSeconds: 0, throttled: false, gaps: [], groupId: null, lastHeartbeatAt: null });
    expect(parseCaptureStatus(null)).toMatchObject({ state: 'stopped', publishFailing: false, capturedTableAlerts: [] });
  });

  it('parses a row by its component, and knows no other component', () => {
    const row = { instance: 'a', startedAt: 's', lastSeen: 'l', ageSeconds: 1 };
    expect(parseComponentReport({ ...row, component: 'sync', status: sync })).toEqual({ ...row, component: 'sync', status: sync });
    expect(parseComponentReport({ ...row, component: 'capture', status: capture })?.status).toEqual(capture);
    expect(parseComponentReport({ ...row, component: 'verifier', status: {} })).toBeNull();
  });
});
