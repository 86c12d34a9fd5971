// The reconciler's HTTP service (Express, JSON): authentication by bearer token and role, an audit row
// and a log line for every mutating call, request ids, Prometheus request durations, and one error
// mapping: bad input 400, no or bad token 401, wrong role 403, unknown id 404, refused in the current
// state 409 — never a 5xx for something the caller sent.
import express, { type NextFunction, type Request, type Response, type Router } from 'express';
import { randomUUID } from 'node:crypto';
import type pg from 'pg';
import type { Logger } from '../runtime/logger.ts';
import type { Metrics } from '../runtime/metrics.ts';
import type { Database } from '../../connectors/postgres/database.ts';
import { ValidationError, NotFoundError, ConflictError, errorMessage } from '../runtime/errors.ts';
import { AuditEntry } from '../runtime/entities.ts';
import { verifyToken, type Principal, type Role } from './tokens.ts';
import { sanitizeForJson } from './validation.ts';
import type { BackgroundTasks } from '../runtime/background-tasks.ts';

export interface ReadinessCheck {
  ok: boolean;
  detail: string;
}

export interface HttpContext {
  database: Database;
  pool: pg.Pool;
  logger: Logger;
  metrics: Metrics;
  /** the pipeline components of this process (capture, sync) and their state */
  readiness: () => Promise<Record<string, ReadinessCheck>>;
  /** where routes register the loops they start (stopped with the process); absent when routes are only listed */
  tasks?: BackgroundTasks;
}

export type RouteRegistrar = (router: Router, ctx: HttpContext) => void;

declare module 'express-serve-static-core' {
  interface Request {
    requestId: string;
    principal?: Principal;
  }
}

type AuditedRequest = Request & { audited?: boolean };

/** A request that may change something: audited even when it is refused before reaching its handler. */
function mutatingAttempt(req: Request): boolean {
  return !['GET', 'HEAD', 'OPTIONS'].includes(req.method) && (req.path.startsWith('/prestamos/') || req.originalUrl.startsWith('/prestamos/'));
}

export class AuthError extends Error {
  readonly status: 401 | 403;
  constructor(status: 401 | 403, message: string) {
    super(message);
    this.status = status;
  }
}

/** Resolves the bearer token (if any) into req.principal. */
function authenticate(ctx: HttpContext) {
  return async (req: Request, _res: Response, next: NextFunction) => {
    const header = req.headers.authorization;
    if (header) {
      const m = /^Bearer\s+(\S+)$/i.exec(header);
      const principal = m ? await verifyToken(ctx.pool, m[1]!).catch(() => null) : null;
      if (principal) req.principal = principal;
      else (req as Request & { badToken?: boolean }).badToken = true;
    }
    next();
  };
}

/** Throws the 401/403 this request deserves unless its principal has one of the roles (admin always has). */
export function authorize(req: Request, roles: readonly Role[]): void {
  if (!req.principal) {
    const bad = (req as Request & { badToken?: boolean }).badToken;
    throw new AuthError(401, bad ? 'invalid or revoked bearer token' : 'a bearer token is required (Authorization: Bearer <token>)');
  }
  if (req.principal.role !== 'admin' && !roles.includes(req.principal.role)) {
    throw new AuthError(403, `role ${req.principal.role} may not ${req.method} ${req.baseUrl}${req.route?.path ?? req.path}`);
  }
}

/** The roles that may read (GET): viewers, and operators, who must see what they operate. Admin always may. */
export const READ_ROLES: readonly Role[] = ['viewer', 'operator'];

/** Only these roles (admin is always allowed). For reads; mutations use `mutation()`, which also audits refusals. */
export function requireRole(...roles: Role[]) {
  return (req: Request, _res: Response, next: NextFunction) => {
    try {
      authorize(req, roles);
      next();
    } catch (err) {
      next(err);
    }
  };
}

/**
 * A mutating endpoint: checks the role, runs the handler, and writes the outcome (success, refusal or
 * the error it answers with) to the append-only audit log — who, role, action, parameters, request id
 * — and to the log, before the answer is sent. Calls refused for a missing or wrong token are audited
 * too. The handler's return value is sent as JSON (with the status it set, 200 by default).
 */
export function mutation(ctx: HttpContext, action: string, roles: readonly Role[], handler: (req: Request, res: Response) => Promise<unknown>) {
  return async (req: Request, res: Response, next: NextFunction) => {
    const params = sanitizeForJson({ ...req.params, ...(req.body !== undefined ? { body: req.body } : {}) }) as Record<string, unknown>;
    let status = 200;
    let outcome = 'ok';
    let failure: unknown;
    let body: unknown;
    try {
      authorize(req, roles);
      body = await handler(req, res);
      status = res.statusCode;
    } catch (err) {
      failure = err;
      status = statusOf(err);
      outcome = `error: ${errorMessage(err)}`.slice(0, 2000);
    }
    (req as AuditedRequest).audited = true;
    await writeAudit(ctx, req, action, params, outcome, status).catch((err) =>
      ctx.logger.error({ err: errorMessage(err), action }, 'audit row could not be written'),
    );
    if (failure !== undefined) return next(failure);
    if (!res.headersSent) res.json(body);
  };
}

export async function writeAudit(ctx: HttpContext, req: Request, action: string, params: Record<string, unknown>, outcome: string, status: number): Promise<void> {
  const em = ctx.database.em();
  const safeParams = truncateParams(sanitizeForJson(params) as Record<string, unknown>);
  const safeOutcome = sanitizeForJson(outcome) as string;
  const actor = req.principal ? `${req.principal.name}#${req.principal.tokenId}` : (req as Request & { badToken?: boolean }).badToken ? 'anonymous (invalid token)' : 'anonymous';
  em.create(AuditEntry, {
    actor,
    role: req.principal?.role ?? null,
    action,
    params: safeParams,
    outcome: safeOutcome,
    status,
    requestId: req.requestId,
  } as never);
  await em.flush();
  ctx.logger.info({ audit: true, action, actor, role: req.principal?.role, params: safeParams, outcome: safeOutcome, status, requestId: req.requestId }, `audit ${action}`);
}

function truncateParams(params: Record<string, unknown>): Record<string, unknown> {
  const text = JSON.stringify(params);
  return text.length > 4000 ? { truncated: text.slice(0, 4000) } : params;
}

export function statusOf(err: unknown): number {
  if (err instanceof AuthError) return err.status;
  if (err instanceof ValidationError) return 400;
  if (err instanceof NotFoundError) return 404;
  if (err instanceof ConflictError) return 409;
  const e = err as { type?: string; status?: number; statusCode?: number };
  if (e?.type === 'entity.parse.failed' || e?.type === 'entity.too.large' || e?.type === 'encoding.unsupported' || e?.type === 'charset.unsupported') return e.status ?? 400;
  if (typeof e?.status === 'number' && e.status >= 400 && e.status < 500) return e.status;
  return 500;
}

export function createHttpApp(ctx: HttpContext, registrars: RouteRegistrar[]): express.Express {
  const app = express();
  // the scrape itself is the first request of most processes: its series exists before it is answered
  ctx.metrics.httpDuration.zero({ method: 'GET', route: '/metrics', status: '200' });
  app.disable('x-powered-by');
  app.set('query parser', 'simple');
  app.use((req, res, next) => {
    const incoming = req.headers['x-request-id'];
    req.requestId = typeof incoming === 'string' && /^[A-Za-z0-9._-]{1,100}$/.test(incoming) ? incoming : randomUUID();
    res.setHeader('x-request-id', req.requestId);
    // every answer reflects the live system (no cache may keep one), and is what its type says
    res.setHeader('cache-control', 'no-store');
    res.setHeader('x-content-type-options', 'nosniff');
    const t0 = process.hrtime.bigint();
    res.on('finish', () => {
      const route = req.route?.path ? `${req.baseUrl}${req.route.path}` : 'unmatched';
      ctx.metrics.httpDuration.observe({ method: req.method, route, status: String(res.statusCode) }, Number(process.hrtime.bigint() - t0) / 1e9);
    });
    next();
  });
  // who is calling is known before the body is parsed, so that a refused body is audited with its caller
  app.use(authenticate(ctx));
  app.use(express.json({ limit: '100kb', strict: true }));
  const router = express.Router();
  for (const register of registrars) register(router, ctx);
  app.use(router);
  app.use((req, _res, next) => next(new NotFoundError(`no route ${req.method} ${req.path}`)));
  app.use(async (err: unknown, req: Request, res: Response, _next: NextFunction) => {
    const status = statusOf(err);
    if (status >= 500) ctx.logger.error({ err, requestId: req.requestId, path: req.path }, 'request failed');
    // refused before any handler ran (malformed JSON, a body too large, a path that does not decode,
    // no such route): still a mutating attempt, and audited as one
    if (!(req as AuditedRequest).audited && mutatingAttempt(req)) {
      (req as AuditedRequest).audited = true;
      const message = status >= 500 ? 'internal error' : publicMessage(err);
      await writeAudit(ctx, req, 'request.rejected', { method: req.method, path: req.originalUrl.slice(0, 500) }, `error: ${message}`.slice(0, 2000), status).catch((e) =>
        ctx.logger.error({ err: errorMessage(e) }, 'audit row could not be written'),
      );
    }
    const body: Record<string, unknown> = { error: status >= 500 ? 'internal error' : publicMessage(err), requestId: req.requestId };
    if (err instanceof ConflictError) body.reasons = err.reasons;
    if (err instanceof ValidationError && err.details !== undefined) body.details = err.details;
    if (!res.headersSent) res.status(status).json(body);
  });
  return app;
}

function publicMessage(err: unknown): string {
  const e = err as { type?: string; message?: string };
  if (e?.type === 'entity.parse.failed') return 'malformed JSON body';
  if (e?.type === 'entity.too.large') return 'request body too large (limit 100kb)';
  return errorMessage(err);
}
