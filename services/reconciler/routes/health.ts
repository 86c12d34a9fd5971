// Liveness, readiness and the Prometheus scrape endpoint (unauthenticated, as scrapers and probes are).
import type { RouteRegistrar } from '../http-app.ts';
import { errorMessage } from '../../runtime/errors.ts';

export const healthRoutes: RouteRegistrar = (router, ctx) => {
  router.get('/healthz', (_req, res) => {
    res.json({ status: 'ok', uptimeSeconds: Math.round(process.uptime()) });
  });

  router.get('/readyz', async (_req, res) => {
    const checks: Record<string, { ok: boolean; detail: string }> = {};
    try {
      await ctx.pool.query('SELECT 1');
      checks.database = { ok: true, detail: 'reachable' };
    } catch (err) {
      checks.database = { ok: false, detail: errorMessage(err) };
    }
    Object.assign(checks, await ctx.readiness().catch((err) => ({ pipeline: { ok: false, detail: errorMessage(err) } })));
    const ready = Object.values(checks).every((c) => c.ok);
    res.status(ready ? 200 : 503).json({ status: ready ? 'ready' : 'not ready', checks });
  });

  router.get('/metrics', async (_req, res) => {
    res.setHeader('content-type', ctx.metrics.registry.contentType);
    res.send(await ctx.metrics.registry.metrics());
  });
};
