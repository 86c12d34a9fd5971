// Every route of the reconciler's API, in one list: `prestamos-cdc run|reconciler` (cli/commands/serve.ts)
// and the test harness (test/support/pipeline.ts) both mount exactly this. /healthz, /readyz and
// /metrics are added by every process (routes/health.ts).
import type { RouteRegistrar } from '../http-app.ts';
import { startMigration } from '../migration-starter.ts';
import { migrationStartRoutes } from './migration-start.ts';
import { singleLoanRoutes } from './migration-single.ts';
import { verificationRoutes } from './migration-verify.ts';
import { progressRoutes } from './migration-progress.ts';
import { controlRoutes } from './migration-control.ts';
import { failedRecordRoutes } from './failed-records.ts';
import { auditRoutes } from './audit.ts';
import { testDataRoutes } from './test-data.ts';
import { openApiRoutes } from './openapi.ts';
import { reportRoutes } from './migration-report.ts';
import type { ReconcilerDeps } from './deps.ts';

export type { ReconcilerDeps } from './deps.ts';

export function reconcilerRoutes(deps: ReconcilerDeps): RouteRegistrar[] {
  const start: RouteRegistrar = (router, ctx) =>
    migrationStartRoutes((requestedBy) =>
      startMigration({
        databaseUrl: deps.databaseUrl,
        pool: ctx.pool,
        slotName: deps.config.slotName,
        publicationName: deps.config.publicationName,
        topicPrefix: deps.config.topicPrefix,
        lockTimeoutMs: deps.config.lockTimeoutMs,
        requestedBy,
        logger: deps.logger,
      }),
    )(router, ctx);
  return [
    openApiRoutes,
    start,
    singleLoanRoutes(deps),
    verificationRoutes(deps),
    progressRoutes(deps),
    controlRoutes(deps),
    failedRecordRoutes(deps),
    auditRoutes,
    testDataRoutes(deps),
    reportRoutes(deps),
  ];
}
