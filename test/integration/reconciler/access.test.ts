// Access: the role matrix for every endpoint (no token, a malformed token, a revoked token, each role),
// tokens made by `prestamos-cdc token create` and revoked by `token revoke`, an audit row (and only
// one) for every mutating call — allowed, refused or failed — and none for reads; the audit readable
// by admins only.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createTestDatabase, type TestDatabase } from '../../support/database.ts';
import { startTestProcess, configFor } from '../../support/pipeline.ts';
import { call, makeTokens, type Tokens } from '../../support/http.ts';
import { registeredRoutes } from '../../support/routes.ts';
import { OPENAPI_DOCUMENT, openApiPath } from '../../../services/reconciler/openapi.ts';
import type { RunningProcess } from '../../../services/orchestrator/process-runner.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');

type Need = 'public' | 'viewer' | 'operator' | 'admin';
interface Endpoint {
  method: 'GET' | 'POST';
  path: string;
  need: Need;
  /** the audit action of a mutating endpoint */
  action?: string;
  /** a request that passes authorization and is then refused as invalid (400): proves the role got through without doing anything */
  probe: { path: string; json?: unknown };
}

// SPEC §5: admin everything; operator single, rollback, pause, resume (and retry of a failed record);
// viewer the GETs (the audit is for admins). Scrapers and probes need no token.
const ENDPOINTS: Endpoint[] = [
  { method: 'GET', path: '/healthz', need: 'public', probe: { path: '/healthz' } },
  { method: 'GET', path: '/readyz', need: 'public', probe: { path: '/readyz' } },
  { method: 'GET', path: '/metrics', need: 'public', probe: { path: '/metrics' } },
  { method: 'GET', path: '/prestamos/openapi.json', need: 'public', probe: { path: '/prestamos/openapi.json' } },
  { method: 'POST', path: '/prestamos/migration/start', need: 'admin', action: 'migration.start', probe: { path: '/prestamos/migration/start', json: { now: true } } },
  { method: 'POST', path: '/prestamos/migration/single/:id', need: 'operator', action: 'migration.single', probe: { path: '/prestamos/migration/single/x', json: { waitSeconds: 'soon' } } },
  { method: 'POST', path: '/prestamos/migration/rollback/:id', need: 'operator', action: 'migration.rollback', probe: { path: '/prestamos/migration/rollback/x', json: { reason: 5 } } },
  { method: 'POST', path: '/prestamos/migration/pause', need: 'operator', action: 'migration.pause', probe: { path: '/prestamos/migration/pause', json: { reason: '' } } },
  { method: 'POST', path: '/prestamos/migration/resume', need: 'operator', action: 'migration.resume', probe: { path: '/prestamos/migration/resume', json: { force: true } } },
  { method: 'POST', path: '/prestamos/migration/cutover', need: 'admin', action: 'migration.cutover', probe: { path: '/prestamos/migration/cutover', json: { to: 'sideways' } } },
  { method: 'POST', path: '/prestamos/migration/failed/:id/retry', need: 'operator', action: 'migration.failed.retry', probe: { path: '/prestamos/migration/failed/abc/retry', json: {} } },
  { method: 'POST', path: '/prestamos/migration/failed/:id/resolve', need: 'admin', action: 'migration.failed.resolve', probe: { path: '/prestamos/migration/failed/1/resolve', json: {} } },
  { method: 'POST', path: '/prestamos/test/create-data', need: 'admin', action: 'test.create-data', probe: { path: '/prestamos/test/create-data', json: { seed: -1 } } },
  { method: 'POST', path: '/prestamos/test/remove-data', need: 'admin', action: 'test.remove-data', probe: { path: '/prestamos/test/remove-data', json: {} } },
  { method: 'GET', path: '/prestamos/migration/verify', need: 'viewer', probe: { path: '/prestamos/migration/verify?limit=0' } },
  { method: 'GET', path: '/prestamos/migration/consistency', need: 'viewer', probe: { path: '/prestamos/migration/consistency?limit=x' } },
  { method: 'GET', path: '/prestamos/migration/progress', need: 'viewer', probe: { path: '/prestamos/migration/progress?x=1' } },
  { method: 'GET', path: '/prestamos/migration/metrics', need: 'viewer', probe: { path: '/prestamos/migration/metrics?x=1' } },
  { method: 'GET', path: '/prestamos/migration/loan/:id', need: 'viewer', probe: { path: '/prestamos/migration/loan/%20x' } },
  { method: 'GET', path: '/prestamos/migration/cutover', need: 'viewer', probe: { path: '/prestamos/migration/cutover?dry=1' } },
  { method: 'GET', path: '/prestamos/migration/failed', need: 'viewer', probe: { path: '/prestamos/migration/failed?status=closed' } },
  { method: 'GET', path: '/prestamos/migration/audit', need: 'admin', probe: { path: '/prestamos/migration/audit?limit=9999' } },
  { method: 'GET', path: '/prestamos/migration/report', need: 'viewer', probe: { path: '/prestamos/migration/report?format=pdf' } },
];

const RANK: Record<Need, number> = { public: 0, viewer: 1, operator: 2, admin: 3 };
function allowed(role: 'viewer' | 'operator' | 'admin', need: Need): boolean {
  if (need === 'public' || role === 'admin') return true;
  if (need === 'admin') return false;
  // operator may do the operator endpoints and the reads; viewer only the reads
  return role === 'operator' ? RANK[need] <= 2 : need === 'viewer';
}

let db: TestDatabase;
let proc: RunningProcess | undefined;
let tokens: Tokens;

beforeAll(async () => {
  db = await createTestDatabase('migrated');
  tokens = await makeTokens(db);
  // API only: the matrix needs no pipeline; test data enabled so that admin reaches its validation
  proc = await startTestProcess(db, { capture: false, sync: false, config: configFor(db, { ENABLE_TEST_DATA: 'true' }) });
});
afterAll(async () => {
  await proc?.stop();
  await db?.drop();
});

async function auditRows(requestId: string) {
  const r = await db.query(`SELECT actor, role, action, params, outcome, status, request_id, at FROM prestamos_cdc.audit_log WHERE request_id = $1`, [requestId]);
  return r.rows;
}

describe('access', () => {
  it('the matrix covers every route the router has', () => {
    const routes = registeredRoutes().map((r) => `${r.method} ${r.path}`);
    expect(ENDPOINTS.map((e) => `${e.method} ${e.path}`).sort()).toEqual(routes.sort());
  });

  it('the OpenAPI document states the same roles (x-roles) as the matrix', () => {
    const paths = OPENAPI_DOCUMENT.paths as unknown as Record<string, Record<string, { 'x-roles': string[] }>>;
    for (const e of ENDPOINTS) {
      const documented = paths[openApiPath(e.path)]?.[e.method.toLowerCase()]?.['x-roles'];
      const expected = e.need === 'public' ? [] : (['viewer', 'operator', 'admin'] as const).filter((r) => allowed(r, e.need));
      expect({ endpoint: `${e.method} ${e.path}`, roles: documented }).toEqual({ endpoint: `${e.method} ${e.path}`, roles: expected });
    }
  });

  it('answers every endpoint by role: 401 without or with a bad token, 403 for a role that may not, through otherwise; mutating calls audited once', async () => {
    const revoked = (await makeTokens(db)).viewer;
    await db.query(`UPDATE prestamos_cdc.api_tokens SET revoked_at = now() WHERE name = 'test-viewer' AND revoked_at IS NULL AND id = (SELECT max(id) FROM prestamos_cdc.api_tokens WHERE name = 'test-viewer')`);
    const callers: { who: string; token?: string; role?: 'viewer' | 'operator' | 'admin' }[] = [
      { who: 'no token' },
      { who: 'malformed token', token: 'not-a-token' },
      { who: 'wrong secret', token: tokens.admin.slice(0, -4) + 'AAAA' },
      { who: 'revoked token', token: revoked },
      { who: 'viewer', token: tokens.viewer, role: 'viewer' },
      { who: 'operator', token: tokens.operator, role: 'operator' },
      { who: 'admin', token: tokens.admin, role: 'admin' },
    ];
    const seen: string[] = [];
    for (const e of ENDPOINTS) {
      for (const c of callers) {
        const requestId = `acl-${randomUUID()}`;
        const r = await call(proc!.url, e.method, e.probe.path, { token: c.token, json: e.probe.json, headers: { 'x-request-id': requestId } });
        let expected: number;
        if (e.need === 'public') expected = e.path === '/readyz' ? r.status : 200; // readiness depends on the process; never 401/403
        else if (!c.role) expected = 401;
        else expected = allowed(c.role, e.need) ? 400 : 403;
        seen.push(`${e.method} ${e.probe.path} as ${c.who}: ${r.status}`);
        expect(`${e.method} ${e.probe.path} as ${c.who}: ${r.status}`).toBe(`${e.method} ${e.probe.path} as ${c.who}: ${expected}`);
        if (e.need === 'public') expect([401, 403]).not.toContain(r.status);
        if (r.status >= 400) {
          expect(typeof r.body.error).toBe('string');
          expect(r.body.requestId).toBe(requestId);
        }
        if (expected === 401) expect(r.body.error).toMatch(c.token ? /invalid or revoked/ : /bearer token is required/);
        const rows = await auditRows(requestId);
        if (e.action) {
          expect(rows).toHaveLength(1);
          expect(rows[0]).toMatchObject({ action: e.action, status: expected, role: c.role ?? null });
          expect(rows[0]!.outcome).toMatch(/^error: /);
          expect(rows[0]!.actor).toBe(c.role ? `test-${c.role}#${(await db.query(`SELECT id::text FROM prestamos_cdc.api_tokens WHERE name = $1 ORDER BY id LIMIT 1`, [`test-${c.role}`])).rows[0]!.id}` : c.token ? 'anonymous (invalid token)' : 'anonymous');
        } else {
          expect(rows).toHaveLength(0);
        }
      }
    }
    expect(seen.length).toBe(ENDPOINTS.length * callers.length);
  });

  it('audits a successful mutating call with who, role, action, parameters, outcome, request id and time', async () => {
    const requestId = `ok-${randomUUID()}`;
    const r = await call(proc!.url, 'POST', '/prestamos/migration/pause', { token: tokens.operator, json: { reason: 'audit test' }, headers: { 'x-request-id': requestId } });
    expect(r.status).toBe(200);
    const rows = await auditRows(requestId);
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ role: 'operator', action: 'migration.pause', params: { body: { reason: 'audit test' } }, outcome: 'ok', status: 200, request_id: requestId });
    expect(rows[0]!.actor).toMatch(/^test-operator#\d+$/);
    expect(rows[0]!.at).toBeInstanceOf(Date);
    const resume = await call(proc!.url, 'POST', '/prestamos/migration/resume', { token: tokens.operator });
    expect(resume.status).toBe(200);

    // admins read the audit; nobody can change it
    const audit = await call(proc!.url, 'GET', '/prestamos/migration/audit?action=migration.pause&limit=5', { token: tokens.admin });
    expect(audit.status).toBe(200);
    expect(audit.body.entries[0]).toMatchObject({ action: 'migration.pause', requestId, outcome: 'ok', status: 200, role: 'operator' });
    expect(audit.body.entries.every((e: { action: string }) => e.action === 'migration.pause')).toBe(true);
    expect((await call(proc!.url, 'GET', '/prestamos/migration/audit', { token: tokens.operator })).status).toBe(403);
    await expect(db.query(`UPDATE prestamos_cdc.audit_log SET outcome = 'changed'`)).rejects.toThrow(/append-only/);
    await expect(db.query(`DELETE FROM prestamos_cdc.audit_log`)).rejects.toThrow(/append-only/);
  });

  it('accepts a token made by `token create` until `token revoke`', () => {
    const env = { ...process.env, DATABASE_URL: db.url, LOG_LEVEL: 'silent' };
    const node = process.execPath;
    const created = spawnSync(node, ['cli/main.ts', 'token', 'create', '--role', 'viewer', '--name', 'cli-viewer'], { cwd: ROOT, env, encoding: 'utf8' });
    expect(created.status).toBe(0);
    const lines = created.stdout.trim().split('\n');
    const token = lines[lines.length - 1]!;
    expect(token).toMatch(/^pcdc_\d+_[A-Za-z0-9_-]{43}$/);
    const id = /^pcdc_(\d+)_/.exec(token)![1]!;
    return (async () => {
      expect((await call(proc!.url, 'GET', '/prestamos/migration/progress', { token })).status).toBe(200);
      expect((await call(proc!.url, 'POST', '/prestamos/migration/pause', { token, json: {} })).status).toBe(403);
      const stored = await db.query(`SELECT token_hash FROM prestamos_cdc.api_tokens WHERE id = $1`, [id]);
      expect(stored.rows[0]!.token_hash).toMatch(/^[0-9a-f]{64}$/);
      expect(stored.rows[0]!.token_hash).not.toContain(token.split('_')[2]);
      const revoked = spawnSync(node, ['cli/main.ts', 'token', 'revoke', id], { cwd: ROOT, env, encoding: 'utf8' });
      expect(revoked.status).toBe(0);
      expect(revoked.stdout).toMatch(new RegExp(`token #${id} revoked`));
      const after = await call(proc!.url, 'GET', '/prestamos/migration/progress', { token });
      expect(after.status).toBe(401);
      expect(after.body.error).toMatch(/invalid or revoked/);
    })();
  });
});
