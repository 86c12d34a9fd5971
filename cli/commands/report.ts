// report --out FILE: the migration report (services/reconciler/migration-report.ts) written to FILE,
// Markdown for .md, a self-contained HTML page for .html/.htm. Exit 0 when every check passes, 1 when
// one does not, 2 on a usage or configuration error.
import { writeFile, rename } from 'node:fs/promises';
import pg from 'pg';
import { requireDatabaseUrl } from '../../services/runtime/config.ts';
import { buildMigrationReport, reportOptions } from '../../services/reconciler/migration-report.ts';
import { renderHtml, renderMarkdown } from '../../services/reconciler/report-render.ts';
import type { Command } from './types.ts';

export const reportCommand: Command = {
  summary: 'report --out FILE(.md|.html): the guides\' success criteria and post-migration checks with their evidence, and charts of the run',
  options: { out: { type: 'string' } },
  async run({ config, values, out }) {
    const file = typeof values.out === 'string' ? values.out : '';
    const format = /\.md$/i.test(file) ? 'md' : /\.html?$/i.test(file) ? 'html' : null;
    if (!format) {
      out('usage: report --out FILE.md | FILE.html');
      return 2;
    }
    const pool = new pg.Pool({ connectionString: requireDatabaseUrl(config), max: 3, application_name: 'prestamos-cdc report' });
    pool.on('error', () => undefined);
    try {
      const data = await buildMigrationReport(pool, reportOptions(config));
      // written next to the target and renamed: a reader never sees half a report
      const tmp = `${file}.tmp-${process.pid}`;
      await writeFile(tmp, format === 'md' ? renderMarkdown(data) : renderHtml(data), 'utf8');
      await rename(tmp, file);
      const passed = data.criteria.filter((c) => c.ok).length;
      out(`report written to ${file}: ${passed} of ${data.criteria.length} checks pass`);
      for (const c of data.criteria.filter((x) => !x.ok)) out(`  - not met: ${c.item} (${c.evidence})`);
      return passed === data.criteria.length ? 0 : 1;
    } finally {
      await pool.end().catch(() => undefined);
    }
  },
};
