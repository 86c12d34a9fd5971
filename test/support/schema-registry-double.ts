// A test double of the Confluent Schema Registry REST API: the subset that
// @kafkajs/confluent-schema-registry calls (register, look up by id, latest version, subject config,
// compatibility). Avro only. BACKWARD compatibility is enforced like the real registry's default: a
// new version must be able to read data written with the previous one (checked with avsc's resolver).
// In-process, on a free port. Test code only — never shipped as product code.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import avro from 'avsc';

interface Version {
  id: number;
  version: number;
  schema: string;
}

export interface SchemaRegistryDouble {
  url: string;
  /** Registered versions per subject (for assertions). */
  subjects(): Map<string, Version[]>;
  requests: number;
  stop(): Promise<void>;
}

const CONTENT_TYPE = 'application/vnd.schemaregistry.v1+json';

export async function startSchemaRegistryDouble(): Promise<SchemaRegistryDouble> {
  const byId = new Map<number, string>();
  const bySubject = new Map<string, Version[]>();
  const config = new Map<string, string>();
  let nextId = 1;
  const state = { requests: 0 };

  const send = (res: http.ServerResponse, status: number, body: unknown) => {
    res.writeHead(status, { 'content-type': CONTENT_TYPE });
    res.end(JSON.stringify(body));
  };
  const notFound = (res: http.ServerResponse, code: number, message: string) => send(res, 404, { error_code: code, message });
  // Parsed to check it is valid Avro; stored with its attributes (defaults decide compatibility).
  const canonical = (schema: string) => JSON.stringify(avro.Type.forSchema(JSON.parse(schema)).schema({ exportAttrs: true }));

  const server = http.createServer((req, res) => {
    state.requests++;
    let body = '';
    req.on('data', (d: Buffer) => (body += d.toString()));
    req.on('end', () => {
      try {
        const url = new URL(req.url ?? '/', 'http://x');
        const parts = url.pathname.split('/').filter(Boolean).map(decodeURIComponent);
        const json = body ? (JSON.parse(body) as Record<string, unknown>) : {};
        // GET /schemas/ids/{id}
        if (req.method === 'GET' && parts[0] === 'schemas' && parts[1] === 'ids' && parts[2]) {
          const schema = byId.get(Number(parts[2]));
          return schema ? send(res, 200, { schema }) : notFound(res, 40403, 'Schema not found');
        }
        // GET /subjects
        if (req.method === 'GET' && parts[0] === 'subjects' && parts.length === 1) {
          return send(res, 200, [...bySubject.keys()]);
        }
        // GET|PUT /config/{subject}
        if (parts[0] === 'config' && parts[1]) {
          if (req.method === 'PUT') {
            config.set(parts[1], String(json.compatibility));
            return send(res, 200, { compatibility: json.compatibility });
          }
          const level = config.get(parts[1]);
          return level ? send(res, 200, { compatibilityLevel: level }) : notFound(res, 40401, 'Subject not found');
        }
        if (parts[0] === 'subjects' && parts[1]) {
          const subject = parts[1];
          const versions = bySubject.get(subject) ?? [];
          // POST /subjects/{subject}/versions — register
          if (req.method === 'POST' && parts[2] === 'versions') {
            const schema = canonical(String(json.schema));
            const existing = versions.find((v) => v.schema === schema);
            if (existing) return send(res, 200, { id: existing.id });
            const latest = versions[versions.length - 1];
            if (latest && (config.get(subject) ?? 'BACKWARD') === 'BACKWARD') {
              try {
                avro.Type.forSchema(JSON.parse(schema)).createResolver(avro.Type.forSchema(JSON.parse(latest.schema)));
              } catch (err) {
                return send(res, 409, { error_code: 409, message: `Schema being registered is incompatible with an earlier schema: ${(err as Error).message}` });
              }
            }
            const id = nextId++;
            byId.set(id, schema);
            versions.push({ id, version: versions.length + 1, schema });
            bySubject.set(subject, versions);
            return send(res, 200, { id });
          }
          // GET /subjects/{subject}/versions/{version|latest}
          if (req.method === 'GET' && parts[2] === 'versions' && parts[3]) {
            const v = parts[3] === 'latest' ? versions[versions.length - 1] : versions.find((x) => x.version === Number(parts[3]));
            return v ? send(res, 200, { subject, ...v }) : notFound(res, 40402, 'Version not found');
          }
          // POST /subjects/{subject} — is this schema registered?
          if (req.method === 'POST' && parts.length === 2) {
            const schema = canonical(String(json.schema));
            const v = versions.find((x) => x.schema === schema);
            return v ? send(res, 200, { subject, ...v }) : notFound(res, 40403, 'Schema not found');
          }
        }
        send(res, 404, { error_code: 404, message: `not implemented by the double: ${req.method} ${url.pathname}` });
      } catch (err) {
        send(res, 422, { error_code: 42201, message: (err as Error).message });
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    subjects: () => bySubject,
    get requests() {
      return state.requests;
    },
    set requests(v) {
      state.requests = v;
    },
    stop: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
