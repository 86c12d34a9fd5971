// The metric names a PromQL expression selects, and the deploy/ files that hold expressions (the
// Grafana dashboard and the Prometheus alert rules). Used by the tests that check every expression
// against a live /metrics. Not a full PromQL parser: it removes what cannot be a metric name (strings,
// label matchers, ranges, grouping label lists, numbers, durations, Grafana variables) and keeps every
// remaining identifier that is not a function, an aggregation or a keyword.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse as parseYaml } from 'yaml';

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const DASHBOARD_FILE = path.join(REPO_ROOT, 'deploy/grafana/dashboards/prestamos-cdc.json');
export const ALERTS_FILE = path.join(REPO_ROOT, 'deploy/prometheus/alerts.yml');

const KEYWORDS = new Set(['and', 'or', 'unless', 'bool', 'by', 'without', 'on', 'ignoring', 'group_left', 'group_right', 'offset', 'inf', 'nan', 'atan2']);

/** Every metric name selected by a PromQL expression, in order of appearance, without duplicates. */
export function metricNamesIn(expr: string): string[] {
  let s = expr;
  s = s.replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`/g, ' '); // string literals
  s = s.replace(/\{[^}]*\}/g, ' '); // label matchers
  s = s.replace(/\[[^\]]*\]/g, ' '); // ranges and subqueries
  s = s.replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/gi, ' '); // label lists
  s = s.replace(/\$\{[^}]*\}|\$[A-Za-z_][A-Za-z0-9_]*/g, ' '); // Grafana variables
  const names: string[] = [];
  // numbers and durations (5m, 1e9, 0x1f) start with a digit or a dot and are skipped whole
  const token = /[0-9.][0-9A-Za-z_.+-]*|[A-Za-z_:][A-Za-z0-9_:]*/g;
  for (let m = token.exec(s); m; m = token.exec(s)) {
    const word = m[0];
    if (/^[0-9.]/.test(word)) continue;
    if (KEYWORDS.has(word.toLowerCase())) continue;
    if (/^\s*\(/.test(s.slice(m.index + word.length))) continue; // a function or an aggregation
    if (!names.includes(word)) names.push(word);
  }
  return names;
}

/** Metric names used directly as the argument of rate(), irate() or increase(): these must be counters. */
export function counterArgumentsIn(expr: string): string[] {
  const out: string[] = [];
  const re = /\b(?:rate|irate|increase)\s*\(\s*([A-Za-z_:][A-Za-z0-9_:]*)/g;
  for (let m = re.exec(expr); m; m = re.exec(expr)) out.push(m[1]!);
  return out;
}

export interface DashboardPanel {
  id: number;
  type: string;
  title: string;
  description?: string;
  gridPos: { x: number; y: number; w: number; h: number };
  targets?: { refId: string; expr: string; legendFormat?: string; datasource?: unknown }[];
  datasource?: unknown;
  fieldConfig?: { defaults?: { unit?: string; min?: number; max?: number } };
  panels?: DashboardPanel[];
}

export interface Dashboard {
  uid: string;
  title: string;
  panels: DashboardPanel[];
  templating?: { list: { name: string; type: string; query?: unknown; definition?: string }[] };
}

export function loadDashboard(file = DASHBOARD_FILE): Dashboard {
  return JSON.parse(readFileSync(file, 'utf8')) as Dashboard;
}

/** Every panel, with the panels of collapsed rows. */
export function allPanels(dashboard: Dashboard): DashboardPanel[] {
  return dashboard.panels.flatMap((p) => [p, ...(p.panels ?? [])]);
}

/** Every PromQL expression of the dashboard, with where it comes from. */
export function dashboardExpressions(dashboard: Dashboard): { where: string; expr: string }[] {
  const out: { where: string; expr: string }[] = [];
  for (const p of allPanels(dashboard)) {
    for (const t of p.targets ?? []) out.push({ where: `panel ${p.id} "${p.title}" ${t.refId}`, expr: t.expr });
  }
  for (const v of dashboard.templating?.list ?? []) {
    if (v.type !== 'query') continue;
    const q = typeof v.query === 'string' ? v.query : (v.query as { query?: string } | undefined)?.query ?? v.definition ?? '';
    const inner = /^label_values\((.*),\s*[A-Za-z_]\w*\)$/.exec(q)?.[1] ?? /^query_result\((.*)\)$/.exec(q)?.[1] ?? q;
    out.push({ where: `variable $${v.name}`, expr: inner });
  }
  return out;
}

export interface AlertRule {
  alert?: string;
  record?: string;
  expr: string;
  for?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}

export function loadAlertRules(file = ALERTS_FILE): { group: string; rule: AlertRule }[] {
  const doc = parseYaml(readFileSync(file, 'utf8')) as { groups: { name: string; rules: AlertRule[] }[] };
  return doc.groups.flatMap((g) => g.rules.map((rule) => ({ group: g.name, rule })));
}

export function alertExpressions(file = ALERTS_FILE): { where: string; expr: string }[] {
  return loadAlertRules(file).map(({ group, rule }) => ({ where: `rule ${group}/${rule.alert ?? rule.record}`, expr: rule.expr }));
}

/** Families of a Prometheus text exposition: name → type, and the names that have at least one sample. */
export function parseExposition(text: string): { types: Map<string, string>; sampled: Set<string> } {
  const types = new Map<string, string>();
  const sampled = new Set<string>();
  for (const line of text.split('\n')) {
    const t = /^# TYPE (\S+) (\S+)$/.exec(line);
    if (t) {
      types.set(t[1]!, t[2]!);
      continue;
    }
    if (line === '' || line.startsWith('#')) continue;
    const s = /^([A-Za-z_:][A-Za-z0-9_:]*)(?:\{.*\})?\s+\S+/.exec(line);
    if (s) sampled.add(s[1]!);
  }
  return { types, sampled };
}

/**
 * The family a referenced series name belongs to: itself, or for `_bucket`, `_sum` and `_count` the
 * histogram (or summary) it is part of. undefined when the exposition has no such family.
 */
export function familyOf(name: string, types: Map<string, string>): { family: string; type: string } | undefined {
  const own = types.get(name);
  if (own) return { family: name, type: own };
  const m = /^(.*)_(bucket|sum|count)$/.exec(name);
  if (!m) return undefined;
  const base = types.get(m[1]!);
  if (base === 'histogram' || (base === 'summary' && m[2] !== 'bucket')) return { family: m[1]!, type: base };
  return undefined;
}
