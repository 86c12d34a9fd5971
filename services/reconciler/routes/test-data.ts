// POST /prestamos/test/create-data and POST /prestamos/test/remove-data (admin), refused (403) unless
// the server runs with ENABLE_TEST_DATA=true.
import { z } from 'zod';
import type { RouteRegistrar } from '../http-app.ts';
import { mutation, AuthError } from '../http-app.ts';
import { parseBody } from '../validation.ts';
import { createTestData, removeTestData, TEST_DATA_LIMITS } from '../test-data.ts';
import type { ReconcilerDeps } from './deps.ts';

const SEED = z.number().int().min(0).max(2_147_483_647);
const CREATE_BODY = z
  .object({
    seed: SEED,
    juntas: z.number().int().min(1).max(TEST_DATA_LIMITS.maxJuntas).optional(),
    loansPerJunta: z.number().int().min(1).max(TEST_DATA_LIMITS.maxLoansPerJunta).optional(),
    maxPaymentsPerLoan: z.number().int().min(0).max(TEST_DATA_LIMITS.maxPaymentsPerLoan).optional(),
  })
  .strict()
  .transform((b) => ({ seed: b.seed, juntas: b.juntas ?? 3, loansPerJunta: b.loansPerJunta ?? 20, maxPaymentsPerLoan: b.maxPaymentsPerLoan ?? 6 }))
  .refine((b) => b.juntas * b.loansPerJunta <= TEST_DATA_LIMITS.maxLoans, { message: `juntas × loansPerJunta must be at most ${TEST_DATA_LIMITS.maxLoans}` });
const REMOVE_BODY = z.object({ seed: SEED }).strict();

export function testDataRoutes(deps: ReconcilerDeps): RouteRegistrar {
  const enabled = () => {
    if (!deps.config.enableTestData) throw new AuthError(403, 'test data is disabled on this server (start it with ENABLE_TEST_DATA=true)');
  };
  return (router, ctx) => {
    router.post(
      '/prestamos/test/create-data',
      mutation(ctx, 'test.create-data', [], async (req, res) => {
        enabled();
        const body = parseBody(CREATE_BODY, req.body, req.headers['content-type']);
        const result = await createTestData(ctx.pool, body);
        res.status(201);
        return { ...result, seed: body.seed, note: 'legacy rows created; the running pipeline migrates them like any other change' };
      }),
    );

    router.post(
      '/prestamos/test/remove-data',
      mutation(ctx, 'test.remove-data', [], async (req) => {
        enabled();
        const body = parseBody(REMOVE_BODY, req.body, req.headers['content-type']);
        const result = await removeTestData(ctx.pool, body.seed);
        return { ...result, seed: body.seed, note: 'legacy rows deleted; the stream removes them from the new tables and appends the ledger reversals' };
      }),
    );
  };
}
