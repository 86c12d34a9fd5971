import { describe, expect, it } from 'vitest';
import { attentionOf, formatBytes, type MigrationStatus, type StatusOptions } from '../../../services/reconciler/migration-status.ts';
import { chartSeries, svgLineChart, sparkline, escapeHtml } from '../../../services/reconciler/report-render.ts';
import type { ProgressReport } from '../../../services/reconciler/progress.ts';

const options: StatusOptions = { slotName: 's', maxLagSeconds: 30, verifyIntervalSeconds: 60, errorRateThreshold: 0.01, maxRetainedWalBytes: 2 * 1024 ** 3 };
const healthy = {
  phase: 'streaming',
  pipeline: { slotName: 's' },
  paused: { paused: false, reason: null },
  lag: { seconds: 0.5, syncsRunning: 1, capturesRunning: 1 },
  errorRate: { ratio: 0, threshold: 0.01 },
  failedRecordsOpen: 0,
} as unknown as ProgressReport;
const slot = { name: 's', exists: true, active: true, retainedWalBytes: 1000, walStatus: 'reserved' } as MigrationStatus['slot'];
const verification = { checkedAt: '', ageSeconds: 10, source: 'background', cycleComplete: true, coverage: 1, durationMs: 100, consistent: true, dataMatchingPercent: 100, capitalDiscrepancies: 0, repairCandidates: 0 } as MigrationStatus['verification'];

describe('what needs attention', () => {
  it('nothing on a healthy run', () => {
    expect(attentionOf(healthy, slot, verification, options)).toEqual([]);
  });

  it('names each problem', () => {
    const p = { ...healthy, paused: { paused: true, reason: 'error rate' }, lag: { seconds: 45, syncsRunning: 1, capturesRunning: 1 }, errorRate: { ratio: 0.02, threshold: 0.01 }, failedRecordsOpen: 2 } as ProgressReport;
    expect(attentionOf(p, { ...slot, retainedWalBytes: 3 * 1024 ** 3 }, { ...verification!, ageSeconds: 400, consistent: false, dataMatchingPercent: 99.5, repairCandidates: 1 }, options)).toEqual([
      'the apply is paused: error rate',
      'end-to-end lag 45.0 s is above 30 s',
      'error rate 2.00 % is above the 1.00 % rollback threshold',
      '2 failed record(s) open (GET /prestamos/migration/failed)',
      'replication slot "s" retains 3.0 GiB of WAL',
      'the last verification is 400 s old (interval 60 s): is a reconciler running?',
      'the last verification found mismatches (data matching 99.5 %, 0 junta(s) with a capital discrepancy)',
      '1 row(s) wrong twice in a row and not repaired',
    ]);
  });

  it('a migration not started, no sync, a missing slot, no verification', () => {
    expect(attentionOf({ ...healthy, phase: 'not started' } as ProgressReport, slot, verification, options)).toEqual(['the migration has not started (POST /prestamos/migration/start)']);
    expect(attentionOf({ ...healthy, lag: { seconds: null, syncsRunning: 0, capturesRunning: 0 } } as ProgressReport, { ...slot, exists: false }, null, options)).toEqual([
      'no sync is running',
      'replication slot "s" does not exist',
      'no verification result yet (is a reconciler running?)',
    ]);
  });

  it('formats bytes', () => {
    expect([formatBytes(512), formatBytes(2048), formatBytes(3 * 1024 ** 3)]).toEqual(['512 B', '2.0 KiB', '3.0 GiB']);
  });
});

describe('the report charts', () => {
  const at = (s: number) => new Date(Date.UTC(2026, 0, 1, 10, 0, s)).toISOString();
  const samples = [
    { at: at(0), migrated: { Prestamo: 0 }, totals: { Prestamo: 100 }, lagSeconds: 1, eventsApplied: 0 },
    { at: at(10), migrated: { Prestamo: 50 }, totals: { Prestamo: 100 }, lagSeconds: 3, eventsApplied: 500 },
    { at: at(20), migrated: { Prestamo: 120 }, totals: { Prestamo: 100 }, lagSeconds: null, eventsApplied: 100 },
  ];

  it('progress in %, capped at the total; lag where known; throughput between samples, a restarted counter skipped', () => {
    const [progress, lag, throughput] = chartSeries(samples);
    expect(progress!.points.map((p) => p.v)).toEqual([0, 50, 100]);
    expect(lag!.points.map((p) => p.v)).toEqual([1, 3]);
    expect(throughput!.points.map((p) => p.v)).toEqual([50]);
  });

  it('draws an SVG line with escaped text, and says when there are too few samples', () => {
    const svg = svgLineChart({ title: 'a <b> & "c"', unit: '%', points: [{ t: 0, v: 0 }, { t: 1000, v: 10 }] });
    expect(svg).toMatch(/^<svg xmlns="http:\/\/www.w3.org\/2000\/svg"/);
    expect(svg).toContain('a &lt;b&gt; &amp; &quot;c&quot;');
    expect(svg).toMatch(/<polyline [^>]*points="52.0,154.0 608.0,26.0"/);
    expect(svgLineChart({ title: 't', unit: 's', points: [] })).toContain('not enough samples yet (0)');
    expect(escapeHtml(`<script>'x'</script>`)).toBe('&lt;script&gt;&#39;x&#39;&lt;/script&gt;');
  });

  it('sparklines for Markdown', () => {
    expect(sparkline([0, 5, 10].map((v, t) => ({ t, v })))).toBe('▁▅█');
    expect(sparkline([])).toBe('(no samples)');
  });
});
