// GET /prestamos/migration/audit (admin): the append-only audit log, newest first, paged by id.
import { z } from 'zod';
import type { RouteRegistrar } from '../http-app.ts';
import { requireRole } from '../http-app.ts';
import { parseQuery, intParam } from '../validation.ts';

const AUDIT_QUERY = z
  .object({
    limit: intParam(1, 500, 50),
    before: z.string().regex(/^[1-9]\d{0,17}$/, 'must be a positive integer').optional(),
    action: z.string().regex(/^[a-z][a-z.]{0,63}$/, 'must be an action name such as migration.rollback').optional(),
  })
  .strict();

export const auditRoutes: RouteRegistrar = (router, ctx) => {
  router.get('/prestamos/migration/audit', requireRole(), async (req, res, next) => {
    try {
      const q = parseQuery(AUDIT_QUERY, req.query);
      const r = await ctx.pool.query(
        `SELECT id::text, at::text, actor, role, action, params, outcome, status, request_id
           FROM prestamos_cdc.audit_log
          WHERE ($1::bigint IS NULL OR id < $1::bigint) AND ($2::text IS NULL OR action = $2)
          ORDER BY id DESC LIMIT $3`,
        [q.before ?? null, q.action ?? null, q.limit],
      );
      res.json({
        entries: r.rows.map((x) => ({ id: x.id, at: x.at, actor: x.actor, role: x.role, action: x.action, params: x.params, outcome: x.outcome, status: x.status, requestId: x.request_id })),
        next: r.rows.length === q.limit ? `/prestamos/migration/audit?before=${r.rows[r.rows.length - 1]!.id}&limit=${q.limit}` : null,
      });
    } catch (err) {
      next(err);
    }
  });
};
