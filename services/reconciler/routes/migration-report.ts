// GET /prestamos/migration/report (viewer): the migration report as a self-contained HTML page, or as
// Markdown with ?format=md (services/reconciler/migration-report.ts). The reconciler records the
// samples of its charts (services/reconciler/progress-recorder.ts) from its start.
import { z } from 'zod';
import type { RouteRegistrar } from '../http-app.ts';
import { requireRole, READ_ROLES } from '../http-app.ts';
import { parseQuery } from '../validation.ts';
import { buildMigrationReport, reportOptions } from '../migration-report.ts';
import { renderHtml, renderMarkdown } from '../report-render.ts';
import { ProgressRecorder, SAMPLE_SECONDS } from '../progress-recorder.ts';
import type { ReconcilerDeps } from './deps.ts';

const REPORT_QUERY = z.object({ format: z.enum(['html', 'md'], { message: 'must be html or md' }).optional() }).strict();

export function reportRoutes(deps: ReconcilerDeps): RouteRegistrar {
  return (router, ctx) => {
    if (ctx.tasks) {
      const recorder = new ProgressRecorder({ pool: ctx.pool, logger: ctx.logger, everySeconds: Math.min(SAMPLE_SECONDS, deps.config.verify.intervalSeconds), errorRateThreshold: deps.config.errorRate.threshold });
      recorder.start();
      ctx.tasks.add({ name: 'progress samples', stop: () => recorder.stop() });
    }

    router.get('/prestamos/migration/report', requireRole(...READ_ROLES), async (req, res, next) => {
      try {
        const q = parseQuery(REPORT_QUERY, req.query);
        const data = await buildMigrationReport(ctx.pool, reportOptions(deps.config));
        if (q.format === 'md') res.type('text/markdown; charset=utf-8').send(renderMarkdown(data));
        else res.type('text/html; charset=utf-8').send(renderHtml(data));
      } catch (err) {
        next(err);
      }
    });
  };
}
