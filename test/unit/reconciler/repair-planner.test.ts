import { describe, expect, it } from 'vitest';
import { planRepairs, type Finding, type RepairPolicy } from '../../../services/reconciler/repair-planner.ts';

const loan = (id: string, key = `loan:${id}`): Finding => ({ key, target: { kind: 'loan', loanId: id }, detail: { loan: id } });
const auto: RepairPolicy = { mode: 'auto', maxPerHour: 10, cooldownMs: 60_000 };
const none = { lastRepairAt: new Map<string, number>(), repairsInLastHour: 0 };

describe('planRepairs', () => {
  it('repairs only what the previous check of the same rows found wrong too', () => {
    const plan = planRepairs(new Set(['loan:a']), [loan('a'), loan('b')], auto, none, 1_000_000);
    expect(plan.repairs.map((r) => r.target)).toEqual([{ kind: 'loan', loanId: 'a' }]);
    expect(plan.withheld).toEqual([]);
  });

  it('makes one repair of a loan from its loan, payment and ledger findings', () => {
    const findings = [loan('a'), loan('a', 'payment:p1'), loan('a', 'ledger:PAGO:p1')];
    const plan = planRepairs(new Set(findings.map((f) => f.key)), findings, auto, none, 0);
    expect(plan.repairs).toHaveLength(1);
    expect(plan.repairs[0]!.findings.map((f) => f.key)).toEqual(['loan:a', 'payment:p1', 'ledger:PAGO:p1']);
  });

  it('reports only, with the reason, when REPAIR_MODE is off', () => {
    const plan = planRepairs(new Set(['loan:a']), [loan('a')], { ...auto, mode: 'off' }, none, 0);
    expect(plan.repairs).toEqual([]);
    expect(plan.withheld).toHaveLength(1);
    expect(plan.withheld[0]!.reason).toMatch(/REPAIR_MODE=off/);
  });

  it('holds a target re-synced within the cool-down, and repairs it after', () => {
    const history = { lastRepairAt: new Map([['loan:a', 100_000]]), repairsInLastHour: 1 };
    expect(planRepairs(new Set(['loan:a']), [loan('a')], auto, history, 130_000).withheld[0]!.reason).toMatch(/30 s ago/);
    expect(planRepairs(new Set(['loan:a']), [loan('a')], auto, history, 160_001).repairs).toHaveLength(1);
  });

  it('stops at the hourly rate limit, in a stable order', () => {
    const findings = ['c', 'a', 'b'].map((id) => loan(id));
    const plan = planRepairs(new Set(findings.map((f) => f.key)), findings, { ...auto, maxPerHour: 3 }, { lastRepairAt: new Map(), repairsInLastHour: 1 }, 0);
    expect(plan.repairs.map((r) => r.findings[0]!.key)).toEqual(['loan:a', 'loan:b']);
    expect(plan.withheld.map((w) => [w.findings[0]!.key, w.reason])).toEqual([['loan:c', 'rate limit: 3 repairs per hour reached']]);
  });

  it('withholds a finding whose row cannot be told, and groups shares by table', () => {
    const unknown: Finding = { key: 'payment:x', target: null, detail: {} };
    const s1: Finding = { key: 'ledger:ACCION:1', target: { kind: 'table', table: 'Accion' }, detail: {} };
    const s2: Finding = { key: 'ledger:ACCION:2', target: { kind: 'table', table: 'Accion' }, detail: {} };
    const plan = planRepairs(new Set(['payment:x', 'ledger:ACCION:1', 'ledger:ACCION:2']), [unknown, s1, s2], auto, none, 0);
    expect(plan.repairs).toEqual([{ target: { kind: 'table', table: 'Accion' }, findings: [s1, s2] }]);
    expect(plan.withheld).toEqual([{ target: null, findings: [unknown], reason: expect.stringMatching(/not known/) }]);
  });
});
