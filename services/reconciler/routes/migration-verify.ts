// GET /prestamos/migration/verify and GET /prestamos/migration/consistency (viewer): computed in SQL
// against the legacy tables (services/reconciler/verification.ts).
import { z } from 'zod';
import type { RouteRegistrar } from '../http-app.ts';
import { requireRole, READ_ROLES } from '../http-app.ts';
import { parseQuery, intParam } from '../validation.ts';
import { verify, consistency } from '../verification.ts';
import type { ReconcilerDeps } from './deps.ts';

const LIMIT_QUERY = z.object({ limit: intParam(1, 200, 20) }).strict();

export function verificationRoutes(deps: ReconcilerDeps): RouteRegistrar {
  return (router, ctx) => {
    router.get('/prestamos/migration/verify', requireRole(...READ_ROLES), async (req, res, next) => {
      try {
        const q = parseQuery(LIMIT_QUERY, req.query);
        res.json(await verify(ctx.pool, { slotName: deps.config.slotName, publicationName: deps.config.publicationName, limit: q.limit }));
      } catch (err) {
        next(err);
      }
    });

    router.get('/prestamos/migration/consistency', requireRole(...READ_ROLES), async (req, res, next) => {
      try {
        const q = parseQuery(LIMIT_QUERY, req.query);
        res.json(await consistency(ctx.pool, { limit: q.limit, metrics: ctx.metrics }));
      } catch (err) {
        next(err);
      }
    });
  };
}
