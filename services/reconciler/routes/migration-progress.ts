// GET /prestamos/migration/progress and GET /prestamos/migration/metrics (viewer).
import { z } from 'zod';
import type { RouteRegistrar } from '../http-app.ts';
import { requireRole, READ_ROLES } from '../http-app.ts';
import { parseQuery } from '../validation.ts';
import { progress, migrationMetrics, RateSampler } from '../progress.ts';
import type { ReconcilerDeps } from './deps.ts';

const NO_QUERY = z.object({}).strict();

export function progressRoutes(deps: ReconcilerDeps): RouteRegistrar {
  const sampler = new RateSampler();
  return (router, ctx) => {
    const options = () => ({ pool: ctx.pool, pipeline: deps.pipeline, sampler, errorRateThreshold: deps.config.errorRate.threshold });

    router.get('/prestamos/migration/progress', requireRole(...READ_ROLES), async (req, res, next) => {
      try {
        parseQuery(NO_QUERY, req.query);
        res.json(await progress(options()));
      } catch (err) {
        next(err);
      }
    });

    router.get('/prestamos/migration/metrics', requireRole(...READ_ROLES), async (req, res, next) => {
      try {
        parseQuery(NO_QUERY, req.query);
        res.json(await migrationMetrics({ ...options(), slotName: deps.config.slotName }));
      } catch (err) {
        next(err);
      }
    });
  };
}
