// GET /prestamos/migration/verify and GET /prestamos/migration/consistency (viewer): computed in SQL
// against the legacy tables (services/reconciler/verification.ts). /consistency answers from the
// background verification's last result, with its age (services/reconciler/background-verifier.ts);
// ?fresh=true checks the whole database now, one run shared by concurrent callers.
import { z } from 'zod';
import type { RouteRegistrar } from '../http-app.ts';
import { requireRole, READ_ROLES } from '../http-app.ts';
import { parseQuery, intParam } from '../validation.ts';
import { verify } from '../verification.ts';
import { BackgroundVerifier, type VerificationResult } from '../background-verifier.ts';
import { limitLists } from '../consistency-merge.ts';
import { SelfRepair } from '../self-repair.ts';
import type { ReconcilerDeps } from './deps.ts';

const LIMIT_QUERY = z.object({ limit: intParam(1, 200, 20) }).strict();
const CONSISTENCY_QUERY = z.object({ limit: intParam(1, 200, 20), fresh: z.enum(['true', 'false']).optional() }).strict();

export function verificationRoutes(deps: ReconcilerDeps): RouteRegistrar {
  return (router, ctx) => {
    const repair = ctx.metrics
      ? new SelfRepair({ deps: { pool: ctx.pool, logger: ctx.logger, metrics: ctx.metrics, pipeline: deps.pipeline, loans: deps.loans }, policy: { mode: deps.config.repair.mode, maxPerHour: deps.config.repair.maxPerHour, cooldownMs: 2 * deps.config.verify.intervalSeconds * 1000 + 30_000 } })
      : undefined;
    const verifier =
      repair &&
      new BackgroundVerifier({ pool: ctx.pool, logger: ctx.logger, metrics: ctx.metrics, intervalSeconds: deps.config.verify.intervalSeconds, loansPerPass: deps.config.verify.loansPerPass, sliceLoans: deps.config.verify.sliceLoans, repair });
    if (verifier && ctx.tasks) {
      verifier.start();
      ctx.tasks.add({ name: 'background verification', stop: () => verifier.stop() });
    }

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
        const q = parseQuery(CONSISTENCY_QUERY, req.query);
        let result: VerificationResult | undefined;
        if (q.fresh === 'true') result = await verifier!.runFresh();
        else result = (await verifier!.latest()) ?? (await verifier!.runPass()) ?? (await verifier!.latest()) ?? (await verifier!.runFresh());
        res.json({
          ...limitLists(result.report, q.limit),
          verification: {
            source: result.source,
            checkedAt: result.checkedAt,
            ageSeconds: Math.max(0, Math.round((Date.now() - Date.parse(result.checkedAt)) / 100) / 10),
            durationMs: result.durationMs,
            intervalSeconds: deps.config.verify.intervalSeconds,
            cycle: result.cycle,
            cycleComplete: result.cycleComplete,
            coverage: result.coverage,
            ranges: result.ranges,
            repairMode: result.repair.mode,
            repairCandidates: result.repair.candidates.slice(0, q.limit),
            repairCandidateCount: result.repair.candidateCount,
          },
        });
      } catch (err) {
        next(err);
      }
    });
  };
}
