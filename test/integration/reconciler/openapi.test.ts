// The OpenAPI document describes exactly the routes the router has (paths and methods), is valid in
// its basic structure, and is served without a token.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../../support/database.ts';
import { startTestProcess } from '../../support/pipeline.ts';
import { call } from '../../support/http.ts';
import { registeredRoutes } from '../../support/routes.ts';
import { makeTokens } from '../../support/http.ts';
import { OPENAPI_DOCUMENT, openApiPath } from '../../../services/reconciler/openapi.ts';
import type { RunningProcess } from '../../../services/orchestrator/process-runner.ts';

const METHODS = ['get', 'put', 'post', 'delete', 'patch', 'head', 'options', 'trace'];

function documented(doc: { paths: Record<string, Record<string, unknown>> }): string[] {
  const out: string[] = [];
  for (const [p, item] of Object.entries(doc.paths)) for (const m of Object.keys(item)) if (METHODS.includes(m)) out.push(`${m.toUpperCase()} ${p}`);
  return out.sort();
}

let db: TestDatabase;
let proc: RunningProcess | undefined;
beforeAll(async () => {
  db = await createTestDatabase('migrated');
  proc = await startTestProcess(db, { capture: false, sync: false });
});
afterAll(async () => {
  await proc?.stop();
  await db?.drop();
});

describe('OpenAPI document', () => {
  it('lists exactly the routes the router registers', () => {
    const routes = registeredRoutes().map((r) => `${r.method} ${openApiPath(r.path)}`).sort();
    expect(routes.length).toBeGreaterThan(15);
    expect(documented(OPENAPI_DOCUMENT as never)).toEqual(routes);
  });

  it('declares every path parameter and a response for every operation', () => {
    for (const [p, item] of Object.entries(OPENAPI_DOCUMENT.paths as unknown as Record<string, Record<string, { parameters?: { name: string; in: string }[]; responses: Record<string, unknown> }>>)) {
      const names = [...p.matchAll(/\{(\w+)\}/g)].map((m) => m[1]);
      for (const [method, o] of Object.entries(item)) {
        const declared = (o.parameters ?? []).filter((x) => x.in === 'path').map((x) => x.name);
        expect({ op: `${method} ${p}`, path: declared.sort() }).toEqual({ op: `${method} ${p}`, path: names.sort() });
        expect(Object.keys(o.responses).length).toBeGreaterThan(0);
      }
    }
    expect(OPENAPI_DOCUMENT.openapi).toBe('3.1.0');
  });

  it('is served without a token, and routes it does not list answer 404', async () => {
    const r = await call(proc!.url, 'GET', '/prestamos/openapi.json');
    expect(r.status).toBe(200);
    expect(r.headers.get('content-type')).toMatch(/application\/json/);
    expect(documented(r.body)).toEqual(documented(OPENAPI_DOCUMENT as never));
    const unknown = await call(proc!.url, 'DELETE', '/prestamos/migration/verify');
    expect(unknown.status).toBe(404);
    expect(unknown.body.error).toMatch(/no route/);
  });
});

describe('HTTP hygiene', () => {
  it('answers carry Cache-Control: no-store and X-Content-Type-Options: nosniff, errors and /metrics too', async () => {
    const { viewer } = await makeTokens(db);
    for (const [path, status] of [
      ['/prestamos/migration/progress', 200],
      ['/prestamos/openapi.json', 200],
      ['/metrics', 200],
      ['/prestamos/migration/verify?limit=0', 400],
      ['/prestamos/no-such-route', 404],
    ] as const) {
      const r = await call(proc!.url, 'GET', path, { token: viewer });
      expect(r.status, path).toBe(status);
      expect(r.headers.get('cache-control'), path).toBe('no-store');
      expect(r.headers.get('x-content-type-options'), path).toBe('nosniff');
    }
  });

  it('an out-of-range or malformed limit says the allowed range', async () => {
    const { viewer } = await makeTokens(db);
    for (const q of ['1000000000', '0', '201', 'abc']) {
      const r = await call(proc!.url, 'GET', `/prestamos/migration/verify?limit=${q}`, { token: viewer });
      expect(r.status, q).toBe(400);
      expect(r.body.error, q).toBe('invalid query: limit: must be a whole number from 1 to 200');
    }
    const audit = await call(proc!.url, 'GET', '/prestamos/migration/audit?limit=501', { token: (await makeTokens(db)).admin });
    expect(audit.body.error).toBe('invalid query: limit: must be a whole number from 1 to 500');
  });
});
