// POST /prestamos/migration/pause and /resume (operator): the shared pause flag every sync obeys
// (resume also clears a pause the error-rate threshold set). POST /prestamos/migration/cutover (admin):
// switch the read-routing views; GET /prestamos/migration/cutover (viewer): where reads go and whether
// a cutover to the new tables would pass its checks now (a dry run).
import { z } from 'zod';
import type { RouteRegistrar } from '../http-app.ts';
import { mutation, requireRole, READ_ROLES } from '../http-app.ts';
import { setPaused } from '../../runtime/control-plane.ts';
import { parseBody, parseQuery, EMPTY_BODY } from '../validation.ts';
import { cutover, cutoverReadiness, type CutoverOptions } from '../cutover.ts';
import { actorOf, type ReconcilerDeps } from './deps.ts';

const PAUSE_BODY = z.object({ reason: z.string().min(1).max(500).optional() }).strict();
const CUTOVER_BODY = z.object({ to: z.enum(['new', 'legacy']) }).strict();

export function cutoverOptions(deps: ReconcilerDeps, ctx: { pool: CutoverOptions['pool']; logger: CutoverOptions['logger']; metrics?: CutoverOptions['metrics'] }): CutoverOptions {
  return {
    pool: ctx.pool,
    logger: ctx.logger,
    metrics: ctx.metrics,
    pipeline: deps.pipeline,
    lockTimeoutMs: deps.config.lockTimeoutMs,
    maxLagSeconds: deps.config.cutoverMaxLagSeconds,
  };
}

export function controlRoutes(deps: ReconcilerDeps): RouteRegistrar {
  return (router, ctx) => {
    router.post(
      '/prestamos/migration/pause',
      mutation(ctx, 'migration.pause', ['operator'], async (req) => {
        const body = parseBody(PAUSE_BODY, req.body, req.headers['content-type']);
        const actor = actorOf(req);
        const state = await setPaused(ctx.pool, true, body.reason ?? `paused by ${actor}`, actor);
        ctx.logger.warn({ actor, reason: state.reason }, 'apply paused by an operator');
        return { ...state, note: 'every sync stops applying within about a second; the capture keeps the changes (the slot retains WAL)' };
      }),
    );

    router.post(
      '/prestamos/migration/resume',
      mutation(ctx, 'migration.resume', ['operator'], async (req) => {
        parseBody(EMPTY_BODY, req.body, req.headers['content-type']);
        const actor = actorOf(req);
        const state = await setPaused(ctx.pool, false, null, actor);
        ctx.logger.warn({ actor }, 'apply resumed by an operator');
        return state;
      }),
    );

    router.post(
      '/prestamos/migration/cutover',
      mutation(ctx, 'migration.cutover', [], async (req) => {
        const body = parseBody(CUTOVER_BODY, req.body, req.headers['content-type']);
        return cutover(cutoverOptions(deps, ctx), body.to, actorOf(req));
      }),
    );

    router.get('/prestamos/migration/cutover', requireRole(...READ_ROLES), async (req, res, next) => {
      try {
        parseQuery(z.object({}).strict(), req.query);
        res.json(await cutoverReadiness(cutoverOptions(deps, ctx)));
      } catch (err) {
        next(err);
      }
    });
  };
}
