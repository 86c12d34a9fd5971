// deploy/prometheus validated by promtool (Debian's `prometheus` package; .ci/install-system-tools.sh
// installs it): the scrape configuration, the alert rules, and the rules' unit tests
// (deploy/prometheus/alerts.test.yml). promtool is required: without it this file fails.
import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadAlertRules, REPO_ROOT } from '../../support/promql.ts';

const DIR = path.join(REPO_ROOT, 'deploy/prometheus');

function promtool(args: string[], cwd = DIR): { status: number | null; output: string } {
  const r = spawnSync('promtool', args, { cwd, encoding: 'utf8' });
  if (r.error) throw new Error(`promtool could not run (${r.error.message}): install Debian's prometheus package (sudo apt-get install prometheus); npm install and .ci/run do it as root`);
  return { status: r.status, output: `${r.stdout}${r.stderr}` };
}

const scratch = mkdtempSync(path.join(os.tmpdir(), 'promtool-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

describe('deploy/prometheus with promtool', () => {
  it('promtool is installed', () => {
    expect(execFileSync('promtool', ['--version'], { encoding: 'utf8' })).toMatch(/promtool, version \d+\.\d+/);
  });

  it('prometheus.yml is a valid configuration and loads the alert rules', () => {
    const r = promtool(['check', 'config', 'prometheus.yml']);
    expect(r.output).toContain('SUCCESS: prometheus.yml is valid prometheus config file syntax');
    expect(r.output).toMatch(/SUCCESS: \d+ rules found/);
    expect(r.status).toBe(0);
  });

  it('alerts.yml is valid', () => {
    const r = promtool(['check', 'rules', 'alerts.yml']);
    expect(r.output).toContain(`SUCCESS: ${loadAlertRules().length} rules found`);
    expect(r.status).toBe(0);
  });

  it('the alert rules pass their unit tests (alerts.test.yml)', () => {
    const r = promtool(['test', 'rules', 'alerts.test.yml']);
    expect(r.output).toContain('SUCCESS');
    expect(r.status).toBe(0);
  });

  it('a broken rule or a changed threshold fails promtool (the checks above can fail)', () => {
    const alerts = readFileSync(path.join(DIR, 'alerts.yml'), 'utf8');
    writeFileSync(path.join(scratch, 'alerts.yml'), alerts.replace('max(prestamos_cdc_paused) == 1', 'max(prestamos_cdc_paused) == ('));
    expect(promtool(['check', 'rules', 'alerts.yml'], scratch).status).not.toBe(0);
    writeFileSync(path.join(scratch, 'alerts.yml'), alerts.replace('max(prestamos_cdc_apply_error_ratio) > 0.01', 'max(prestamos_cdc_apply_error_ratio) > 0.05'));
    copyFileSync(path.join(DIR, 'alerts.test.yml'), path.join(scratch, 'alerts.test.yml'));
    const r = promtool(['test', 'rules', 'alerts.test.yml'], scratch);
    expect(r.status).not.toBe(0);
    expect(r.output).toContain('alertname: PrestamosCdcApplyErrorRateHigh');
  });
});

describe('alert rules', () => {
  const rules = loadAlertRules();

  it('cover what the operators need: slot WAL, stuck slot, lag, error rate, paused apply, consistency, capital, components', () => {
    const names = rules.map((r) => r.rule.alert);
    expect(names).toEqual(
      expect.arrayContaining([
        'PrestamosCdcSlotRetainedWalHigh',
        'PrestamosCdcSlotRetainedWalCritical',
        'PrestamosCdcSlotStuck',
        'PrestamosCdcSlotInactive',
        'PrestamosCdcEndToEndLagHigh',
        'PrestamosCdcEndToEndLagCritical',
        'PrestamosCdcApplyErrorRateHigh',
        'PrestamosCdcDeadLetters',
        'PrestamosCdcApplyPaused',
        'PrestamosCdcConsistencyBelow100',
        'PrestamosCdcCapitalDiscrepancy',
        'PrestamosCdcTargetDown',
        'PrestamosCdcSelfRepair',
        'PrestamosCdcRepairCandidates',
        'PrestamosCdcVerificationStale',
      ]),
    );
    expect(new Set(names).size).toBe(names.length);
  });

  it('every rule has a severity, a summary and a description', () => {
    for (const { rule } of rules) {
      expect(['warning', 'critical'], rule.alert).toContain(rule.labels?.severity);
      expect(rule.annotations?.summary, rule.alert).toBeTruthy();
      expect(rule.annotations?.description, rule.alert).toBeTruthy();
    }
  });

  it('every alert is documented in docs/OPERATIONS.md', () => {
    const doc = readFileSync(path.join(REPO_ROOT, 'docs/OPERATIONS.md'), 'utf8');
    for (const { rule } of rules) expect(doc, rule.alert).toContain(`\`${rule.alert}\``);
  });
});
