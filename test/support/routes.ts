// The routes an API process really registers: the same registrars as process-runner.ts mounts
// (health + reconcilerRoutes), applied to a bare Express router and read back from its stack.
import express from 'express';
import type { HttpContext } from '../../services/reconciler/http-app.ts';
import { healthRoutes } from '../../services/reconciler/routes/health.ts';
import { reconcilerRoutes } from '../../services/reconciler/routes/index.ts';
import { silentLogger } from '../../services/runtime/logger.ts';
import { testConfig } from './pipeline.ts';
import type { LoanWriter } from '../../services/reconciler/single-loan.ts';

export interface RegisteredRoute {
  method: string;
  path: string;
}

/** Registration only: no handler runs, so the loan writer is never called. */
const UNUSED_LOANS: LoanWriter = {
  applyLoanRead: async () => {
    throw new Error('not used when only registering routes');
  },
  rollBack: async () => {
    throw new Error('not used when only registering routes');
  },
};

export function registeredRoutes(): RegisteredRoute[] {
  const router = express.Router();
  const ctx = {} as HttpContext; // registration stores handlers only; none runs here
  for (const register of [healthRoutes, ...reconcilerRoutes({ config: testConfig(), databaseUrl: 'postgres://unused/unused', logger: silentLogger(), pipeline: undefined, loans: UNUSED_LOANS })]) {
    register(router, ctx);
  }
  const out: RegisteredRoute[] = [];
  for (const layer of router.stack as unknown as { route?: { path: string; methods: Record<string, boolean> } }[]) {
    if (!layer.route) continue;
    for (const [method, on] of Object.entries(layer.route.methods)) if (on) out.push({ method: method.toUpperCase(), path: layer.route.path });
  }
  return out.sort((a, b) => (a.path + a.method).localeCompare(b.path + b.method));
}
