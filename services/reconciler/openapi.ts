// The OpenAPI 3.1 description of every route the reconciler serves, hand-written and served at
// GET /prestamos/openapi.json. A test compares its paths and methods with the routes the Express router
// really has, and its x-roles with the role matrix. `x-roles` lists every role allowed; an operation
// with an empty `security` needs no token.

type Json = Record<string, unknown>;

const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });
const json = (schema: Json, description: string) => ({ description, content: { 'application/json': { schema } } });
const error = (description: string) => json(ref('Error'), description);

const COMMON_ERRORS = {
  '400': error('invalid parameter, query or body (malformed JSON, wrong type, unknown field, bad id)'),
  '401': error('no bearer token, or an invalid or revoked one'),
  '403': error('the token\'s role may not call this endpoint'),
};

const idParam = (description: string) => ({
  name: 'id',
  in: 'path',
  required: true,
  description,
  schema: { type: 'string', minLength: 1, maxLength: 200 },
});
const numericIdParam = {
  name: 'id',
  in: 'path',
  required: true,
  description: 'failed record id',
  schema: { type: 'string', pattern: '^[1-9][0-9]{0,17}$' },
};
const limitParam = (max: number, dflt: number) => ({
  name: 'limit',
  in: 'query',
  required: false,
  description: `how many of each list to return (1–${max})`,
  schema: { type: 'integer', minimum: 1, maximum: max, default: dflt },
});
const beforeParam = { name: 'before', in: 'query', required: false, description: 'only ids below this one (paging)', schema: { type: 'string', pattern: '^[1-9][0-9]{0,17}$' } };

function op(options: {
  summary: string;
  description?: string;
  roles: ('viewer' | 'operator' | 'admin')[] | null;
  parameters?: Json[];
  body?: Json;
  bodyRequired?: boolean;
  responses: Record<string, Json>;
  tag: string;
}): Json {
  const out: Json = {
    tags: [options.tag],
    summary: options.summary,
    ...(options.description ? { description: options.description } : {}),
    ...(options.parameters ? { parameters: options.parameters } : {}),
    ...(options.body ? { requestBody: { required: options.bodyRequired ?? false, content: { 'application/json': { schema: options.body } } } } : {}),
    responses: { ...options.responses, ...(options.roles ? COMMON_ERRORS : {}) },
  };
  if (options.roles) {
    out.security = [{ bearer: [] }];
    out['x-roles'] = options.roles;
  } else {
    out.security = [];
    out['x-roles'] = [];
  }
  return out;
}

const reasonBody = { type: 'object', additionalProperties: false, properties: { reason: { type: 'string', minLength: 1, maxLength: 500 } } };
const waitBody = {
  type: 'object',
  additionalProperties: false,
  properties: { waitSeconds: { type: 'integer', minimum: 0, maximum: 120, default: 30, description: 'how long to wait for the pipeline to apply it before answering 202' } },
};
const emptyBody = { type: 'object', additionalProperties: false, properties: {} };
const anyObject = { type: 'object' };

export const OPENAPI_DOCUMENT = {
  openapi: '3.1.0',
  info: {
    title: 'prestamos-cdc reconciler',
    version: '0.1.0',
    description:
      'Operates the zero-downtime migration of the junta loans to the new tables: start, single-loan migration and rollback, ' +
      'verification and consistency computed in SQL against the legacy tables, progress and metrics, pause/resume, and the ' +
      'reversible cutover of reads. Every mutating call is written to an append-only audit log. Bearer tokens: ' +
      '`npm run cli -- token create --role admin|operator|viewer`. Roles: viewer (GETs), operator (single, rollback, pause, ' +
      'resume, retry of a failed record, and the GETs), admin (everything, and alone the audit log). /metrics, /healthz, /readyz and this document need no token ' +
      '(scrapers and probes). Errors are JSON `{error, requestId, reasons?, details?}`: 400 bad input, 401 no or bad token, ' +
      '403 role not allowed (or test data disabled), 404 unknown id or route, 409 refused in the current state (with reasons).',
  },
  servers: [{ url: '/' }],
  components: {
    securitySchemes: { bearer: { type: 'http', scheme: 'bearer', description: 'pcdc_<id>_<secret>, from `prestamos-cdc token create`' } },
    schemas: {
      Error: {
        type: 'object',
        required: ['error', 'requestId'],
        properties: {
          error: { type: 'string' },
          requestId: { type: 'string' },
          reasons: { type: 'array', items: { type: 'string' } },
          details: { type: 'array', items: { type: 'object', properties: { path: { type: 'string' }, message: { type: 'string' } } } },
        },
      },
      FieldComparison: {
        type: 'object',
        properties: {
          field: { type: 'string' },
          legacyColumn: { type: 'string', description: 'the legacy column(s) the field comes from' },
          legacy: { type: ['string', 'null'], description: 'the legacy value as stored' },
          expected: { type: ['string', 'null'], description: 'the value the rules of SPEC §3 derive, computed in SQL' },
          new: { type: ['string', 'null'], description: 'the value in the new table' },
          matches: { type: 'boolean' },
        },
      },
      LoanComparison: {
        type: 'object',
        properties: {
          prestamoId: { type: 'string' },
          exact: { type: 'boolean' },
          inLegacy: { type: 'boolean' },
          inNew: { type: 'boolean' },
          inFlight: { type: 'boolean' },
          rolledBack: { type: ['object', 'null'] },
          loan: { type: 'object', properties: { matches: { type: 'boolean' }, fields: { type: 'array', items: { $ref: '#/components/schemas/FieldComparison' } } } },
          payments: { type: 'array', items: { type: 'object' } },
          ledger: {
            type: 'array',
            items: {
              type: 'object',
              properties: { type: { type: 'string' }, rowId: { type: 'string' }, juntaId: { type: 'string' }, expectedWorth: { type: 'string' }, ledgerWorth: { type: 'string' }, matches: { type: 'boolean' } },
            },
          },
        },
      },
      ControlState: {
        type: 'object',
        properties: { paused: { type: 'boolean' }, reason: { type: ['string', 'null'] }, changedBy: { type: ['string', 'null'] }, changedAt: { type: 'string' } },
      },
    },
  },
  paths: {
    '/healthz': {
      get: op({ tag: 'probes', summary: 'Liveness', roles: null, responses: { '200': json(anyObject, 'the process is alive') } }),
    },
    '/readyz': {
      get: op({
        tag: 'probes',
        summary: 'Readiness: database reachable, capture and sync of this process healthy',
        roles: null,
        responses: { '200': json(anyObject, 'ready'), '503': json(anyObject, 'not ready, with the failing checks') },
      }),
    },
    '/metrics': {
      get: op({
        tag: 'probes',
        summary: 'Prometheus metrics (text exposition format)',
        roles: null,
        responses: { '200': { description: 'metrics', content: { 'text/plain': { schema: { type: 'string' } } } } },
      }),
    },
    '/prestamos/openapi.json': {
      get: op({ tag: 'probes', summary: 'This document', roles: null, responses: { '200': json(anyObject, 'OpenAPI 3.1') } }),
    },
    '/prestamos/migration/start': {
      post: op({
        tag: 'migration',
        summary: 'Start: migration objects if missing, publication and slot, first-load snapshot, streaming',
        roles: ['admin'],
        body: emptyBody,
        responses: {
          '200': json(anyObject, 'already started (nothing changed)'),
          '202': json(anyObject, 'started; follow GET /prestamos/migration/progress'),
          '409': error('the slot cannot be created while long transactions run (named in reasons)'),
        },
      }),
    },
    '/prestamos/migration/single/{id}': {
      post: op({
        tag: 'migration',
        summary: 'Migrate one loan with its payments and ledger now; answers with the field-by-field comparison',
        description:
          'Through a loan-scope snapshot request (the same ordered mechanism as the first load) when a capture is streaming, ' +
          'in-process through the same apply otherwise. Clears a rollback of the loan.',
        roles: ['operator', 'admin'],
        parameters: [idParam('legacy loan id ("Prestamo".id)')],
        body: waitBody,
        responses: {
          '200': json({ type: 'object', properties: { status: { const: 'applied' }, comparison: ref('LoanComparison') } }, 'applied'),
          '202': json(anyObject, 'requested and not applied within waitSeconds (the request id to follow)'),
          '404': error('no such loan in the legacy or new tables'),
          '409': error('the legacy rows of the loan are invalid, or its snapshot request failed'),
        },
      }),
    },
    '/prestamos/migration/rollback/{id}': {
      post: op({
        tag: 'migration',
        summary: 'Remove one loan and its payments from the new tables, append ledger reversals, leave it alone until migrated again',
        roles: ['operator', 'admin'],
        parameters: [idParam('legacy loan id')],
        body: reasonBody,
        responses: { '200': json(anyObject, 'rolled back (or already rolled back)'), '404': error('no such loan') },
      }),
    },
    '/prestamos/migration/loan/{id}': {
      get: op({
        tag: 'verification',
        summary: 'Field-by-field comparison of one loan, its payments and ledger worth (legacy, expected, new)',
        roles: ['viewer', 'operator', 'admin'],
        parameters: [idParam('legacy loan id')],
        responses: { '200': json(ref('LoanComparison'), 'the comparison'), '404': error('no such loan') },
      }),
    },
    '/prestamos/migration/verify': {
      get: op({
        tag: 'verification',
        summary: 'Schema objects present, counts legacy vs new, missing and extra ids, slot and publication state',
        roles: ['viewer', 'operator', 'admin'],
        parameters: [limitParam(200, 20)],
        responses: { '200': json(anyObject, 'the report; ok is true when nothing is missing or extra (rows in flight aside)') },
      }),
    },
    '/prestamos/migration/consistency': {
      get: op({
        tag: 'verification',
        summary: 'Data matching %, payment totals, status consistency, relationship integrity, ledger and per-junta capital (with the cross-check), first mismatches field by field',
        description:
          'Answers from the last result of the background verification (every VERIFY_INTERVAL_SECONDS, by ranges of junta ids; `verification` says when, its age, the coverage and the self-repair candidates). ' +
          'With fresh=true the whole database is checked now; concurrent fresh requests share one run. Rows whose newest legacy change is not applied yet are reported as in flight, not as mismatches.',
        roles: ['viewer', 'operator', 'admin'],
        parameters: [limitParam(200, 20), { name: 'fresh', in: 'query', required: false, description: 'true: check the whole database now instead of answering from the last result', schema: { type: 'string', enum: ['true', 'false'] } }],
        responses: { '200': json(anyObject, 'the report; consistent is true when nothing differs (rows in flight aside)') },
      }),
    },
    '/prestamos/migration/report': {
      get: op({
        tag: 'verification',
        summary: "The migration report: every item of the guides' success criteria and post-migration verification, ticked or not with its evidence, and charts of progress, lag and throughput",
        description: 'A self-contained HTML page (inline CSS and SVG, no script), or Markdown with format=md. `prestamos-cdc report --out FILE` writes the same.',
        roles: ['viewer', 'operator', 'admin'],
        parameters: [{ name: 'format', in: 'query', required: false, description: 'html (default) or md', schema: { type: 'string', enum: ['html', 'md'] } }],
        responses: {
          '200': { description: 'the report', content: { 'text/html': { schema: { type: 'string' } }, 'text/markdown': { schema: { type: 'string' } } } },
        },
      }),
    },
    '/prestamos/migration/progress': {
      get: op({
        tag: 'monitoring',
        summary: 'Phase, per table total/migrated/failed/remaining, rate, ETA, lag, error rate, paused and why, automatic throttling and why, snapshot requests',
        roles: ['viewer', 'operator', 'admin'],
        responses: { '200': json(anyObject, 'progress') },
      }),
    },
    '/prestamos/migration/metrics': {
      get: op({
        tag: 'monitoring',
        summary: 'Migration speed, error rate, lag, slot, resource use (process, host, database), as JSON',
        roles: ['viewer', 'operator', 'admin'],
        responses: { '200': json(anyObject, 'metrics') },
      }),
    },
    '/prestamos/migration/pause': {
      post: op({
        tag: 'control',
        summary: 'Pause the apply (every sync process)',
        roles: ['operator', 'admin'],
        body: reasonBody,
        responses: { '200': json(ref('ControlState'), 'the stored state') },
      }),
    },
    '/prestamos/migration/resume': {
      post: op({
        tag: 'control',
        summary: 'Resume the apply (also after an error-rate pause)',
        roles: ['operator', 'admin'],
        body: emptyBody,
        responses: { '200': json(ref('ControlState'), 'the stored state') },
      }),
    },
    '/prestamos/migration/cutover': {
      get: op({
        tag: 'control',
        summary: 'Where reads go now, and the checks a cutover to the new tables would run (dry run)',
        roles: ['viewer', 'operator', 'admin'],
        responses: { '200': json(anyObject, 'readiness with every check') },
      }),
      post: op({
        tag: 'control',
        summary: 'Switch the read-routing views to the new tables or back to the legacy ones, in one transaction',
        description: 'To "new" only when lag < CUTOVER_MAX_LAG_SECONDS, consistency is 100 %, no record is failed and no loan is rolled back. Back to "legacy" always.',
        roles: ['admin'],
        body: { type: 'object', additionalProperties: false, required: ['to'], properties: { to: { enum: ['new', 'legacy'] } } },
        bodyRequired: true,
        responses: {
          '200': json(anyObject, 'switched (or already there: changed false)'),
          '409': error('refused, with the reasons; or the views could not be locked within lock_timeout'),
        },
      }),
    },
    '/prestamos/migration/failed': {
      get: op({
        tag: 'control',
        summary: 'Failed records (messages that could not be applied), newest first',
        roles: ['viewer', 'operator', 'admin'],
        parameters: [
          { name: 'status', in: 'query', required: false, schema: { enum: ['open', 'resolved', 'all'], default: 'open' } },
          limitParam(500, 50),
          beforeParam,
        ],
        responses: { '200': json(anyObject, 'the records (payloads left out)') },
      }),
    },
    '/prestamos/migration/failed/{id}/retry': {
      post: op({
        tag: 'control',
        summary: 'Re-sync what a failed record was about (its loan, or its table) and close it once applied',
        roles: ['operator', 'admin'],
        parameters: [numericIdParam],
        body: waitBody,
        responses: {
          '200': json(anyObject, 'resolved'),
          '202': json(anyObject, 're-sync requested and not applied yet'),
          '404': error('no such failed record'),
          '409': error('already resolved, or the record does not say which row it was'),
        },
      }),
    },
    '/prestamos/migration/failed/{id}/resolve': {
      post: op({
        tag: 'control',
        summary: 'Close a failed record that was dealt with otherwise, with a note',
        roles: ['admin'],
        parameters: [numericIdParam],
        body: { type: 'object', additionalProperties: false, required: ['note'], properties: { note: { type: 'string', minLength: 1, maxLength: 2000 } } },
        bodyRequired: true,
        responses: { '200': json(anyObject, 'resolved'), '404': error('no such failed record'), '409': error('already resolved') },
      }),
    },
    '/prestamos/migration/audit': {
      get: op({
        tag: 'control',
        summary: 'The append-only audit log of every mutating call, newest first',
        roles: ['admin'],
        parameters: [
          limitParam(500, 50),
          beforeParam,
          { name: 'action', in: 'query', required: false, schema: { type: 'string', pattern: '^[a-z][a-z.]{0,63}$' } },
        ],
        responses: { '200': json(anyObject, 'entries and the link to the next page') },
      }),
    },
    '/prestamos/test/create-data': {
      post: op({
        tag: 'test data',
        summary: 'Create deterministic legacy test data (ids "test-<seed>-…"); refused unless ENABLE_TEST_DATA=true',
        roles: ['admin'],
        body: {
          type: 'object',
          additionalProperties: false,
          required: ['seed'],
          properties: {
            seed: { type: 'integer', minimum: 0, maximum: 2147483647 },
            juntas: { type: 'integer', minimum: 1, maximum: 50, default: 3 },
            loansPerJunta: { type: 'integer', minimum: 1, maximum: 500, default: 20 },
            maxPaymentsPerLoan: { type: 'integer', minimum: 0, maximum: 12, default: 6 },
          },
        },
        bodyRequired: true,
        responses: { '201': json(anyObject, 'created'), '409': error('the data of this seed exists already') },
      }),
    },
    '/prestamos/test/remove-data': {
      post: op({
        tag: 'test data',
        summary: 'Delete the legacy rows of a test data seed (the stream reverses their effect); refused unless ENABLE_TEST_DATA=true',
        roles: ['admin'],
        body: { type: 'object', additionalProperties: false, required: ['seed'], properties: { seed: { type: 'integer', minimum: 0, maximum: 2147483647 } } },
        bodyRequired: true,
        responses: { '200': json(anyObject, 'removed'), '404': error('no test data of this seed') },
      }),
    },
  },
} as const;

/** "/prestamos/migration/single/:id" → "/prestamos/migration/single/{id}" */
export function openApiPath(expressPath: string): string {
  return expressPath.replace(/:([A-Za-z0-9_]+)/g, '{$1}');
}
