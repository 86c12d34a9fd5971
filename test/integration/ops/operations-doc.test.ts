// docs/OPERATIONS.md stays true: its metric table is services/runtime/metrics.ts (every metric, with its
// type and labels), its SQL runs on the schema, and its dashboard picture is what the render script
// draws from the current dashboard JSON.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createMetrics } from '../../../services/runtime/metrics.ts';
import { createTestDatabase, type TestDatabase } from '../../support/database.ts';
import { REPO_ROOT } from '../../support/promql.ts';
import { renderDashboardSvg, DASHBOARD_JSON, SVG_FILE } from '../../../deploy/grafana/render-dashboard.ts';

const doc = readFileSync(path.join(REPO_ROOT, 'docs/OPERATIONS.md'), 'utf8');

/** Rows of the metric table: | `name` | type | labels | set by | meaning | */
function metricTable(text: string): { name: string; type: string; labels: string[] }[] {
  const section = text.slice(text.indexOf('## Metrics'), text.indexOf('## Alerts'));
  return section
    .split('\n')
    .filter((l) => l.startsWith('| `prestamos_cdc_'))
    .map((l) => {
      const cells = l.split('|').map((c) => c.trim());
      return {
        name: cells[1]!.replace(/`/g, ''),
        type: cells[2]!,
        labels: cells[3] === '—' ? [] : cells[3]!.split(',').map((x) => x.trim().replace(/`/g, '')),
      };
    });
}

describe('docs/OPERATIONS.md', () => {
  it('lists every metric of services/runtime/metrics.ts with its type and labels, and no other', () => {
    const registry = createMetrics({ defaultMetrics: false }).registry;
    const defined = (registry.getMetricsAsArray() as unknown as { name: string; type: string; labelNames: string[] }[])
      .map((m) => ({ name: m.name, type: m.type, labels: [...m.labelNames] }))
      .sort((a, b) => a.name.localeCompare(b.name));
    const documented = metricTable(doc).sort((a, b) => a.name.localeCompare(b.name));
    expect(documented.length).toBeGreaterThan(0);
    expect(documented).toEqual(defined);
  });

  it('names the default process metrics the dashboard uses', () => {
    for (const m of ['prestamos_cdc_process_cpu_seconds_total', 'prestamos_cdc_process_resident_memory_bytes', 'prestamos_cdc_nodejs_heap_size_used_bytes', 'prestamos_cdc_nodejs_eventloop_lag_p99_seconds']) {
      expect(doc).toContain(`\`${m}\``);
    }
  });

  it('shows the dashboard picture drawn from the current dashboard JSON', () => {
    expect(doc).toContain('](dashboard.png)');
    const committed = readFileSync(SVG_FILE, 'utf8');
    // run `node deploy/grafana/render-dashboard.ts --png` after changing the dashboard
    expect(committed).toBe(renderDashboardSvg(readFileSync(DASHBOARD_JSON, 'utf8')));
    const png = readFileSync(path.join(REPO_ROOT, 'docs/dashboard.png'));
    expect(png.subarray(1, 4).toString()).toBe('PNG');
  });

  it('is linked from the README', () => {
    expect(readFileSync(path.join(REPO_ROOT, 'README.md'), 'utf8')).toContain('(docs/OPERATIONS.md)');
  });

  describe('its SQL', () => {
    let db: TestDatabase;
    beforeAll(async () => {
      db = await createTestDatabase('migrated');
    });
    afterAll(async () => {
      await db?.drop();
    });

    it('runs on the legacy schema and the migration objects', async () => {
      const sample = /```sql\n([\s\S]*?)```/.exec(doc)?.[1];
      expect(sample).toContain('INSERT INTO "Prestamo"');
      await db.query(sample!);
      expect((await db.query(`SELECT count(*)::int AS n FROM "PagoPrestamo"`)).rows[0]).toEqual({ n: 1 });
      const selects = [...doc.matchAll(/psql -U junta -d junta -c \\\n\s*'([^']+)'/g)].map((m) => m[1]!);
      expect(selects.length).toBe(2);
      for (const q of selects) await db.query(q);
    });
  });
});
