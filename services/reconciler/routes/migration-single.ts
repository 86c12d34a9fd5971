// POST /prestamos/migration/single/:id (operator): migrate one loan now, answer with the field-by-field
// comparison. POST /prestamos/migration/rollback/:id (operator): take it out of the new tables.
// GET /prestamos/migration/loan/:id (viewer): the comparison alone.
import { z } from 'zod';
import type { RouteRegistrar } from '../http-app.ts';
import { mutation, requireRole, READ_ROLES } from '../http-app.ts';
import { NotFoundError } from '../../runtime/errors.ts';
import { parseBody, parseQuery, parseRowId } from '../validation.ts';
import { migrateSingleLoan, rollbackLoan, loanPresence } from '../single-loan.ts';
import { compareLoan } from '../verification.ts';
import { actorOf, type ReconcilerDeps } from './deps.ts';

const SINGLE_BODY = z.object({ waitSeconds: z.number().int().min(0).max(120).optional() }).strict();
const ROLLBACK_BODY = z.object({ reason: z.string().min(1).max(500).optional() }).strict();

export function singleLoanRoutes(deps: ReconcilerDeps): RouteRegistrar {
  return (router, ctx) => {
    const loanDeps = () => ({ pool: ctx.pool, logger: ctx.logger, metrics: ctx.metrics, pipeline: deps.pipeline, loans: deps.loans });

    router.post(
      '/prestamos/migration/single/:id',
      mutation(ctx, 'migration.single', ['operator'], async (req, res) => {
        const id = parseRowId(req.params.id);
        const body = parseBody(SINGLE_BODY, req.body, req.headers['content-type']);
        const result = await migrateSingleLoan(loanDeps(), id, actorOf(req), (body.waitSeconds ?? 30) * 1000);
        if (result.status === 'pending') res.status(202);
        return result;
      }),
    );

    router.post(
      '/prestamos/migration/rollback/:id',
      mutation(ctx, 'migration.rollback', ['operator'], async (req) => {
        const id = parseRowId(req.params.id);
        parseBody(ROLLBACK_BODY, req.body, req.headers['content-type']);
        return rollbackLoan(loanDeps(), id, actorOf(req), req.requestId);
      }),
    );

    router.get('/prestamos/migration/loan/:id', requireRole(...READ_ROLES), async (req, res, next) => {
      try {
        const id = parseRowId(req.params.id);
        parseQuery(z.object({}).strict(), req.query);
        const presence = await loanPresence(ctx.pool, id);
        if (!presence.inLegacy && !presence.inNew && !presence.rolledBack) throw new NotFoundError(`no loan ${JSON.stringify(id)} in "Prestamo", "PrestamoNew" or the rolled-back loans`);
        res.json(await compareLoan(ctx.pool, id));
      } catch (err) {
        next(err);
      }
    });
  };
}
