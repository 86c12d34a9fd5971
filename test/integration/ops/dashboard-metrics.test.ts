// Every query of the Grafana dashboard and every alert rule selects metrics that a running prestamos-cdc
// really exports. A real process (capture + sync + reconciler API, Kafka mode through the test broker)
// migrates a small data set while the application writes, one poison message goes to the dead-letter
// topic, and then /metrics is scraped. Each metric name an expression selects must be a family of that
// live exposition (histogram series through their `_bucket`/`_sum`/`_count`), counters where the
// expression takes a rate, and — except for the few families listed below, whose series appear only on
// events this scenario does not produce — must have samples. A misspelt name in a panel or a rule fails.
import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import { Kafka, Partitioners, logLevel } from 'kafkajs';
import { createTestDatabase, type TestDatabase } from '../../support/database.ts';
import { kafkaAvailable, startTestKafka, type TestKafka } from '../../support/kafka-broker.ts';
import { startTestProcess, waitForCatchUp, expectConsistent, configFor, waitFor } from '../../support/pipeline.ts';
import {
  metricNamesIn,
  counterArgumentsIn,
  parseExposition,
  familyOf,
  loadDashboard,
  allPanels,
  dashboardExpressions,
  alertExpressions,
  REPO_ROOT,
} from '../../support/promql.ts';
import { generateLegacyData, insertLegacyData } from '../../../services/testdata/generator.ts';
import { startLegacyWriter } from '../../../services/testdata/legacy-writer.ts';
import { createToken } from '../../../services/reconciler/tokens.ts';
import { topicFor } from '../../../connectors/kafka/envelope.ts';
import type { RunningProcess } from '../../../services/orchestrator/process-runner.ts';

/** Series Prometheus itself creates for every target (not in /metrics). */
const PROMETHEUS_SERIES = new Set(['up']);

/**
 * Families that are registered (their # HELP/# TYPE lines are in the exposition) but whose labelled
 * series appear only after an event this scenario does not produce, or that their producer does not set
 * yet. Each must still be a live family of the right type; it only may lack samples.
 */
const MAY_LACK_SAMPLES: Record<string, string> = {
  prestamos_cdc_events_stale_total: 'counted on redelivery or replay of an event older than the shadow row',
  prestamos_cdc_apply_retries_total: 'counted when an apply transaction hits a transient database error',
  prestamos_cdc_offset_gaps_total: 'counted when Kafka retention removed messages before they were applied',
  prestamos_cdc_offset_gap_messages_total: 'counted with prestamos_cdc_offset_gaps_total',
  prestamos_cdc_consistency_ratio: 'labelled by check; set when the reconciler computes consistency',
};

/**
 * Metrics of services/runtime/metrics.ts that no code sets yet: an unlabelled gauge among them is
 * exported as a constant 0, which the live check above cannot tell from a real value. When the code
 * starts setting one, remove it from here (the last test says so).
 */
const NOT_SET_BY_CODE: string[] = [];

/** metric name → property of createMetrics(), read from services/runtime/metrics.ts */
function metricProperties(): Map<string, string> {
  const text = readFileSync(path.join(REPO_ROOT, 'services/runtime/metrics.ts'), 'utf8');
  return new Map([...text.matchAll(/^\s*(\w+): new (?:Gauge|Counter|Histogram|Summary)\(\{ name: '([a-z_:]+)'/gm)].map((m) => [m[2]!, m[1]!]));
}

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? sourceFiles(path.join(dir, e.name)) : e.name.endsWith('.ts') ? [path.join(dir, e.name)] : []));
}

let db: TestDatabase;
let kafka: TestKafka;
let pool: pg.Pool;
let proc: RunningProcess | undefined;
let exposition = '';

beforeAll(async () => {
  db = await createTestDatabase('migrated');
  kafka = await startTestKafka();
  pool = new pg.Pool({ connectionString: db.url, max: 6 });
  await insertLegacyData(pool, generateLegacyData({ seed: 11, juntas: 4, loansPerJunta: 20 }));
  const prefix = `ops${Date.now()}`;
  const config = configFor(db, { KAFKA_BROKERS: kafka.brokers.join(','), TOPIC_PREFIX: prefix });
  // capture, sync and the reconciler API in one process: every family of the registry in one exposition
  proc = await startTestProcess(db, { config, mode: 'kafka' });
  const { token } = await createToken(pool, 'admin', 'ops-test');
  const started = await fetch(`${proc.url}/prestamos/migration/start`, { method: 'POST', headers: { authorization: `Bearer ${token}` } });
  expect(started.status).toBe(202);
  const writer = startLegacyWriter({ pool, seed: 12, workers: 2, maxOperations: 200 });
  await writer.done;
  expect(writer.stats.errors).toEqual([]);
  await waitForCatchUp(db);
  await expectConsistent(db);

  // one message that cannot be decoded: an apply error (by reason) and a dead letter
  const client = new Kafka({ clientId: 'ops-test', brokers: kafka.brokers, logLevel: logLevel.NOTHING });
  const producer = client.producer({ allowAutoTopicCreation: true, createPartitioner: Partitioners.DefaultPartitioner });
  await producer.connect();
  try {
    await producer.send({ topic: topicFor(prefix, 'Prestamo'), messages: [{ key: 'poison', value: 'not a change event' }] });
  } finally {
    await producer.disconnect();
  }
  await waitFor('the poison message to reach the dead-letter count', async () => /^prestamos_cdc_dead_letter_total 1$/m.test(await (await fetch(`${proc!.url}/metrics`)).text()), 60_000);

  expect((await fetch(`${proc.url}/healthz`)).status).toBe(200);
  expect((await fetch(`${proc.url}/readyz`)).status).toBe(200);
  exposition = await (await fetch(`${proc.url}/metrics`)).text();
});

afterAll(async () => {
  await proc?.stop();
  await pool?.end();
  await kafka?.stop();
  await db?.drop();
});

function problemsOf(expressions: { where: string; expr: string }[], text = exposition): string[] {
  const { types, sampled } = parseExposition(text);
  const problems: string[] = [];
  for (const { where, expr } of expressions) {
    const names = metricNamesIn(expr);
    if (names.length === 0) problems.push(`${where}: selects no metric: ${expr}`);
    for (const name of names) {
      if (PROMETHEUS_SERIES.has(name)) continue;
      const family = familyOf(name, types);
      if (!family) {
        problems.push(`${where}: ${name} is not exported (${expr})`);
        continue;
      }
      if (!sampled.has(name) && !(family.family in MAY_LACK_SAMPLES)) problems.push(`${where}: ${name} has no sample in the live exposition`);
    }
    for (const name of counterArgumentsIn(expr)) {
      const family = familyOf(name, types);
      const ok = family && (family.type === 'counter' || (family.type === 'histogram' && name !== family.family));
      if (family && !ok) problems.push(`${where}: rate/increase of ${name}, a ${family.type}`);
    }
  }
  return problems;
}

describe('the metric names of an expression', () => {
  it('are found in every shape the dashboard and the rules use, and nothing else is', () => {
    expect(metricNamesIn('histogram_quantile(0.99, sum by (le, route) (rate(prestamos_cdc_http_request_duration_seconds_bucket[$__rate_interval])))')).toEqual([
      'prestamos_cdc_http_request_duration_seconds_bucket',
    ]);
    expect(metricNamesIn('max by (slot) (delta(a_bytes[15m])) > 0 and on () max(changes(b_bytes[15m])) == 0')).toEqual(['a_bytes', 'b_bytes']);
    expect(metricNamesIn('absent(up{job="prestamos-cdc-capture"}) or absent(up{job="x"})')).toEqual(['up']);
    expect(metricNamesIn('sum(rate(x_sum[5m])) / sum(rate(x_count[5m])) > 1e9 unless y offset 5m')).toEqual(['x_sum', 'x_count', 'y']);
    expect(metricNamesIn('1 - max by (instance, component) (prestamos_cdc_component_up)')).toEqual(['prestamos_cdc_component_up']);
    expect(metricNamesIn('sum without (job) (prestamo_cdc_paused)')).toEqual(['prestamo_cdc_paused']);
    expect(counterArgumentsIn('sum(increase(a_total[1h])) + rate(b_bucket{le="1"}[5m])')).toEqual(['a_total', 'b_bucket']);
  });
});

describe('deploy/grafana/dashboards/prestamos-cdc.json', () => {
  const dashboard = loadDashboard();
  const panels = allPanels(dashboard).filter((p) => p.type !== 'row');

  it('has the panels operators need, each with a title, a description and a query on the templated datasource', () => {
    expect(panels.length).toBeGreaterThanOrEqual(20);
    const ids = allPanels(dashboard).map((p) => p.id);
    expect(new Set(ids).size).toBe(ids.length);
    for (const p of panels) {
      expect(p.title, `panel ${p.id}`).toBeTruthy();
      expect(p.description, p.title).toBeTruthy();
      expect(p.targets?.length, p.title).toBeGreaterThan(0);
      expect(p.datasource, p.title).toEqual({ type: 'prometheus', uid: '${datasource}' });
      for (const t of p.targets ?? []) expect(t.datasource, p.title).toEqual({ type: 'prometheus', uid: '${datasource}' });
    }
    expect(dashboard.templating?.list.find((v) => v.name === 'datasource')).toMatchObject({ type: 'datasource', query: 'prometheus' });
    const all = dashboardExpressions(dashboard).map((e) => e.expr).join('\n');
    for (const metric of [
      'prestamos_cdc_replication_slot_retained_wal_bytes',
      'prestamos_cdc_source_to_publish_lag_seconds_bucket',
      'prestamos_cdc_end_to_end_lag_seconds_bucket',
      'prestamos_cdc_events_published_total',
      'prestamos_cdc_events_applied_total',
      'prestamos_cdc_apply_errors_total',
      'prestamos_cdc_dead_letter_total',
      'prestamos_cdc_consumer_lag_messages',
      'prestamos_cdc_snapshot_progress_ratio',
      'prestamos_cdc_consistency_ratio',
      'prestamos_cdc_juntas_capital_discrepancy',
      'prestamos_cdc_paused',
      'prestamos_cdc_throttled',
      'prestamos_cdc_http_request_duration_seconds_bucket',
      'prestamos_cdc_process_cpu_seconds_total',
      'prestamos_cdc_process_resident_memory_bytes',
    ]) {
      expect(all, metric).toContain(metric);
    }
  });

  it('lays the panels out on the 24-column grid without overlaps', () => {
    const boxes = allPanels(dashboard).map((p) => ({ id: p.id, ...p.gridPos }));
    for (const b of boxes) {
      expect(b.x + b.w, `panel ${b.id}`).toBeLessThanOrEqual(24);
      expect(b.w * b.h, `panel ${b.id}`).toBeGreaterThan(0);
    }
    for (const a of boxes) {
      for (const b of boxes) {
        if (a.id >= b.id) continue;
        const overlap = a.x < b.x + b.w && b.x < a.x + a.w && a.y < b.y + b.h && b.y < a.y + a.h;
        expect(overlap, `panels ${a.id} and ${b.id} overlap`).toBe(false);
      }
    }
  });

  it('queries only metrics that a running process exports, with samples', () => {
    expect(problemsOf(dashboardExpressions(dashboard))).toEqual([]);
  });
});

describe('deploy/prometheus/alerts.yml', () => {
  it('selects only metrics that a running process exports, with samples', () => {
    expect(problemsOf(alertExpressions())).toEqual([]);
  });
});

describe.skipIf(!kafkaAvailable())('the live exposition', () => {
  it('has samples for the families that this scenario exercises', () => {
    const { sampled } = parseExposition(exposition);
    for (const series of [
      'prestamos_cdc_replication_slot_retained_wal_bytes',
      'prestamos_cdc_events_published_total',
      'prestamos_cdc_events_applied_total',
      'prestamos_cdc_apply_errors_total',
      'prestamos_cdc_consumer_lag_messages',
      'prestamos_cdc_snapshot_progress_ratio',
      'prestamos_cdc_http_request_duration_seconds_bucket',
      'prestamos_cdc_component_up',
    ]) {
      expect(sampled.has(series), series).toBe(true);
    }
    expect(exposition).toMatch(/^prestamos_cdc_apply_errors_total\{reason="[^"]+"\} 1$/m);
    expect(exposition).toMatch(/^prestamos_cdc_events_applied_total\{table="Prestamo",op="r"\} [1-9]\d*$/m);
    expect(exposition).toMatch(/^prestamos_cdc_snapshot_progress_ratio\{table="PagoPrestamo"\} 1$/m);
  });

  it('would fail a panel that names a metric wrongly (the check above can fail)', () => {
    expect(problemsOf([{ where: 'typo', expr: 'sum(rate(prestamos_cdc_events_aplied_total[5m]))' }])).toEqual([
      'typo: prestamos_cdc_events_aplied_total is not exported (sum(rate(prestamos_cdc_events_aplied_total[5m])))',
    ]);
    expect(problemsOf([{ where: 'gauge rate', expr: 'rate(prestamos_cdc_paused[5m])' }])).toEqual(['gauge rate: rate/increase of prestamos_cdc_paused, a gauge']);
    expect(problemsOf([{ where: 'not a histogram', expr: 'prestamos_cdc_capture_publish_failures_total_bucket' }])).toEqual([
      'not a histogram: prestamos_cdc_capture_publish_failures_total_bucket is not exported (prestamos_cdc_capture_publish_failures_total_bucket)',
    ]);
    const registeredOnly = '# HELP prestamos_cdc_x_total x\n# TYPE prestamos_cdc_x_total counter\n';
    expect(problemsOf([{ where: 'no samples', expr: 'sum(rate(prestamos_cdc_x_total[5m]))' }], registeredOnly)).toEqual(['no samples: prestamos_cdc_x_total has no sample in the live exposition']);
  });

  it('lists only registered families that the dashboard or the rules use as allowed to lack samples', () => {
    const { types } = parseExposition(exposition);
    const used = [...dashboardExpressions(loadDashboard()), ...alertExpressions()].flatMap((e) => metricNamesIn(e.expr));
    for (const family of Object.keys(MAY_LACK_SAMPLES)) {
      expect(types.has(family), family).toBe(true);
      expect(used, family).toContain(family);
    }
  });
});

describe('the code that sets the metrics', () => {
  it('sets every metric of metrics.ts except the ones listed as not set yet', () => {
    const properties = metricProperties();
    expect(properties.size).toBeGreaterThan(30);
    const code = ['services', 'connectors', 'cli']
      .flatMap((d) => sourceFiles(path.join(REPO_ROOT, d)))
      .filter((f) => !f.endsWith(path.join('runtime', 'metrics.ts')))
      .map((f) => readFileSync(f, 'utf8'))
      .join('\n');
    const notSet = [...properties]
      .filter(([, prop]) => !new RegExp(`metrics\\??\\.${prop}\\.(set|inc|dec|observe|labels|startTimer|reset)\\(`).test(code))
      .map(([name]) => name)
      .sort();
    // a name that appears here but not in NOT_SET_BY_CODE: a metric nobody sets (wire it or remove it);
    // a name missing here but in NOT_SET_BY_CODE: the code sets it now, remove it from the list
    expect(notSet).toEqual([...NOT_SET_BY_CODE].sort());
  });
});

