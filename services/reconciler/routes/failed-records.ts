// GET /prestamos/migration/failed (viewer), POST /prestamos/migration/failed/:id/retry (operator),
// POST /prestamos/migration/failed/:id/resolve (admin).
import { z } from 'zod';
import type { RouteRegistrar } from '../http-app.ts';
import { mutation, requireRole, READ_ROLES } from '../http-app.ts';
import { parseBody, parseQuery, parseNumericId, intParam } from '../validation.ts';
import { listFailedRecords, retryFailedRecord, resolveFailedRecord } from '../failed-records.ts';
import { actorOf, type ReconcilerDeps } from './deps.ts';

const LIST_QUERY = z
  .object({
    status: z.enum(['open', 'resolved', 'all']).optional().transform((v) => v ?? 'open'),
    limit: intParam(1, 500, 50),
    before: z.string().regex(/^[1-9]\d{0,17}$/, 'must be a positive integer').optional(),
  })
  .strict();
const RETRY_BODY = z.object({ waitSeconds: z.number().int().min(0).max(120).optional() }).strict();
const RESOLVE_BODY = z.object({ note: z.string().trim().min(1).max(2000) }).strict();

export function failedRecordRoutes(deps: ReconcilerDeps): RouteRegistrar {
  return (router, ctx) => {
    router.get('/prestamos/migration/failed', requireRole(...READ_ROLES), async (req, res, next) => {
      try {
        const q = parseQuery(LIST_QUERY, req.query);
        res.json(await listFailedRecords(ctx.pool, { status: q.status, limit: q.limit, beforeId: q.before ?? null }));
      } catch (err) {
        next(err);
      }
    });

    router.post(
      '/prestamos/migration/failed/:id/retry',
      mutation(ctx, 'migration.failed.retry', ['operator'], async (req, res) => {
        const id = parseNumericId(req.params.id);
        const body = parseBody(RETRY_BODY, req.body, req.headers['content-type']);
        const result = await retryFailedRecord({ pool: ctx.pool, logger: ctx.logger, metrics: ctx.metrics, pipeline: deps.pipeline, loans: deps.loans }, id, actorOf(req), (body.waitSeconds ?? 30) * 1000);
        if (result.status === 'pending') res.status(202);
        return result;
      }),
    );

    router.post(
      '/prestamos/migration/failed/:id/resolve',
      mutation(ctx, 'migration.failed.resolve', [], async (req) => {
        const id = parseNumericId(req.params.id);
        const body = parseBody(RESOLVE_BODY, req.body, req.headers['content-type']);
        return resolveFailedRecord(ctx.pool, id, actorOf(req), body.note);
      }),
    );
  };
}
