// The demo's terminal output: the progress bar, the live summary, the verdict, the TTY/plain status line,
// and the validation of the command's whole-number options.
import { describe, expect, it } from 'vitest';
import { bar, percent, count, snapshotLine, summaryLine, verdictLines, verdictOf } from '../../../services/demo/demo-view.ts';
import { createTerminal } from '../../../services/demo/terminal.ts';
import { demoData } from '../../../services/demo/demo-database.ts';
import { integerOption } from '../../../cli/commands/demo.ts';
import type { ProgressReport } from '../../../services/reconciler/progress.ts';
import type { ConsistencyReport, CheckSummary } from '../../../services/reconciler/verification.ts';

const summary = (total: number, mismatched = 0, inFlight = 0): CheckSummary => {
  const settled = total - inFlight;
  const matching = settled - mismatched;
  return { total, matching, mismatched, inFlight, percent: settled === matching ? 100 : Math.floor((matching / settled) * 1_000_000) / 10_000 };
};

function report(o: { loanMismatch?: number; loanInFlight?: number; ledger?: number; capital?: number } = {}): ConsistencyReport {
  const loans = summary(3000, o.loanMismatch ?? 0, o.loanInFlight ?? 0);
  const payments = summary(7000);
  const consistent = !o.loanMismatch && !o.ledger && !o.capital;
  return {
    consistent,
    checkedAt: '2026-01-01 00:00:00+00',
    dataMatching: { ...summary(10_000, o.loanMismatch ?? 0, o.loanInFlight ?? 0), loans, payments },
    relationships: { orphanPayments: { count: 0, ids: [], inFlight: 0 }, paymentsWithoutSplit: 0, loansOfUnknownJunta: { count: 0, ids: [] }, movements: { total: 12_345, prestamo: 0, pago: 0, accion: 0, multa: 0, ofUnknownJunta: 0 } },
    ledger: { mismatched: o.ledger ?? 0, inFlight: 0, first: [] },
    capital: { juntas: 60, discrepancies: o.capital ?? 0, first: [], anomalies: { loansWithNegativeOutstanding: 0, ids: [] } },
    mismatches: {
      loans: o.loanMismatch ? [{ id: 'cp1', problem: 'differs', fields: [{ field: 'principal', legacyColumn: 'monto', legacy: '100.00', expected: '100.00', new: '99.00' }] }] : [],
      payments: [],
    },
    inFlight: { total: o.loanInFlight ?? 0, loans: [], payments: [], ledger: [] },
  } as unknown as ConsistencyReport;
}

describe('demo view', () => {
  it('formats counts, percentages and the bar without rounding up to 100', () => {
    expect(count(1234567)).toBe('1,234,567');
    expect(percent(100)).toBe('100%');
    expect(percent(99.999)).toBe('99.99%');
    expect(percent(48.2)).toBe('48.20%');
    expect(bar(0, 10)).toBe('[----------]');
    expect(bar(0.5, 10)).toBe('[#####-----]');
    expect(bar(1.2, 10)).toBe('[##########]');
  });

  it('shows the snapshot per table with the ETA and a pause', () => {
    const p = {
      totals: { percent: 48.2 },
      etaSeconds: 3,
      paused: { paused: false, reason: null },
      tables: [
        { table: 'Prestamo', total: 3000, migrated: 1450, rolledBack: 0 },
        { table: 'PagoPrestamo', total: 7000, migrated: 3300, rolledBack: 0 },
        { table: 'Accion', total: 240, migrated: 0, rolledBack: 0 },
        { table: 'Multa', total: 120, migrated: 0, rolledBack: 0 },
      ],
    } as unknown as ProgressReport;
    const line = snapshotLine(p);
    expect(line).toMatch(/^snapshot \[#{14}-{16}\]  48\.20%/);
    expect(line).toContain('loans 1,450/3,000 · payments 3,300/7,000 · shares 0/240 · fines 0/120 · ETA 3 s');
    expect(snapshotLine(p, { paused: 'error rate 2%' })).toContain('PAUSED: error rate 2%');
  });

  it('summarises consistency in one line, in-flight rows apart from mismatches', () => {
    const line = summaryLine(report({ loanInFlight: 3 }), { lagSeconds: 0.085, applied: 15_234, writes: 700, paused: null }, new Date('2026-01-01T12:00:05Z'));
    expect(line).toBe(
      "12:00:05  loans 100% (2,997 match, 3 in flight) · payments 100% (7,000 match) · ledger ok · juntas' capital ok 60/60 · lag 85 ms · applied 15,234 changes · app wrote 700 tx",
    );
    const bad = summaryLine(report({ loanMismatch: 2, ledger: 1, capital: 1 }), { lagSeconds: null, applied: 0, writes: 0, paused: 'operator' });
    expect(bad).toContain('loans 99.93% (2,998 match, 2 MISMATCHED)');
    expect(bad).toContain('ledger 1 MISMATCHED');
    expect(bad).toContain("juntas' capital 1 MISMATCHED of 60");
    expect(bad).toContain('lag ?');
    expect(bad).toContain('PAUSED: operator');
  });

  it('gives the verdict: consistent, a mismatch with its fields, or not verified while rows are in flight', () => {
    expect(verdictOf(report())).toBe('consistent');
    expect(verdictLines(report())[0]).toMatch(/^verdict: CONSISTENT — 3,000 loans, 7,000 payments, 12,345 ledger movements and the capital of 60 juntas/);
    expect(verdictOf(report({ loanMismatch: 1 }))).toBe('mismatch');
    const lines = verdictLines(report({ loanMismatch: 1 }));
    expect(lines[0]).toMatch(/^verdict: MISMATCH — loans 99\.96% \(1 differ\)/);
    expect(lines[1]).toBe('  loan cp1 differs — principal: legacy 100.00, expected 100.00, new 99.00');
    expect(verdictOf(report({ loanInFlight: 2 }))).toBe('not verified');
  });
});

describe('demo terminal', () => {
  it('redraws the status line in place on a TTY and ends it before a line', () => {
    let out = '';
    const t = createTerminal({ isTTY: true, columns: 200, write: (s: string) => (out += s) });
    t.status('a');
    t.status('b');
    t.line('c');
    t.status('d', true);
    expect(out).toBe('\r\x1b[Ka\r\x1b[Kb\nc\n\r\x1b[Kd\n');
  });

  it('prints plain status lines at most once per interval on a pipe, and always the final one', () => {
    let out = '';
    const t = createTerminal({ write: (s: string) => (out += s) }, { plainIntervalMs: 60_000 });
    t.status('first');
    t.status('skipped');
    t.status('last', true);
    expect(out).toBe('first\nlast\n');
  });
});

describe('demo data and options', () => {
  it('generates exactly the loans asked for, payments only of kept loans', () => {
    for (const n of [1, 30, 120, 300]) {
      const d = demoData(n, 7);
      expect(d.prestamos).toHaveLength(n);
      const ids = new Set(d.prestamos.map((p) => p.id));
      expect(d.pagos.every((g) => ids.has(g.prestamoId))).toBe(true);
    }
    expect(demoData(120, 7)).toEqual(demoData(120, 7));
  });

  it('accepts whole numbers in range and names the option otherwise', () => {
    expect(integerOption('loans', undefined)).toBe(3000);
    expect(integerOption('loans', '250')).toBe(250);
    expect(integerOption('duration', '0')).toBe(0);
    expect(integerOption('loans', '0')).toMatch(/^--loans must be a whole number from 1 to/);
    expect(integerOption('rate', '2.5')).toMatch(/^--rate must be/);
    expect(integerOption('rate', '-3')).toMatch(/^--rate must be/);
    expect(integerOption('interval', 'abc')).toMatch(/^--interval must be .*got "abc"/);
    expect(integerOption('duration', '1e3')).toMatch(/^--duration must be/);
  });
});
