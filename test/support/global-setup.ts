// Vitest global setup: one real PostgreSQL server (wal_level=logical) for the whole run, and two
// template databases every test file clones from (CREATE DATABASE … TEMPLATE is a file copy: fast).
//   prestamos_tmpl_legacy    the legacy schema only
//   prestamos_tmpl_migrated  the legacy schema plus every migration object
// TEST_DATABASE_URL=postgres://user@host:port/db uses an external server instead (the user needs
// CREATEDB and REPLICATION; the server wal_level=logical): templates get a unique suffix and are
// dropped at the end. The server started here is stopped by its PID at the end.
// Also the run's shared Kafka broker (test/support/global-kafka.ts).
import type { TestProject } from 'vitest/node';
import pg from 'pg';
import { randomBytes } from 'node:crypto';
import { startEmbeddedServer, type EmbeddedServer } from '../../connectors/postgres/embedded-server.ts';
import { migrate, runSqlFile, LEGACY_SCHEMA_FILE } from '../../connectors/postgres/migrator.ts';
import { silentLogger } from '../../services/runtime/logger.ts';
import { startSharedKafka } from './global-kafka.ts';
import type { ApacheKafka } from './apache-kafka.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    pgAdminUrl: string;
    pgTemplates: { legacy: string; migrated: string };
  }
}

function withDatabase(url: string, database: string): string {
  const u = new URL(url);
  u.pathname = '/' + database;
  return u.toString();
}

async function adminQuery(adminUrl: string, sql: string): Promise<void> {
  const c = new pg.Client({ connectionString: adminUrl });
  await c.connect();
  try {
    await c.query(sql);
  } finally {
    await c.end();
  }
}

let server: EmbeddedServer | undefined;
let kafkaBroker: ApacheKafka | undefined;
let adminUrl = '';
let templates: { legacy: string; migrated: string } | undefined;

export async function setup(project: TestProject): Promise<void> {
  try {
    await startServers(project);
  } catch (err) {
    // nothing started here may outlive a failed set-up (vitest runs no teardown then)
    await teardown().catch(() => undefined);
    throw err;
  }
}

async function startServers(project: TestProject): Promise<void> {
  const kafka = await startSharedKafka(process.env);
  kafkaBroker = kafka.broker;
  project.provide('kafka', kafka.shared);
  const external = process.env.TEST_DATABASE_URL;
  if (external) {
    adminUrl = external;
  } else {
    server = await startEmbeddedServer({ binDir: process.env.PG_BIN_DIR || undefined });
    adminUrl = server.url('postgres');
  }
  const suffix = external ? '_' + randomBytes(4).toString('hex') : '';
  templates = { legacy: `prestamos_tmpl_legacy${suffix}`, migrated: `prestamos_tmpl_migrated${suffix}` };
  await adminQuery(adminUrl, `DROP DATABASE IF EXISTS ${templates.migrated}`);
  await adminQuery(adminUrl, `DROP DATABASE IF EXISTS ${templates.legacy}`);
  await adminQuery(adminUrl, `CREATE DATABASE ${templates.legacy}`);
  await runSqlFile(withDatabase(adminUrl, templates.legacy), LEGACY_SCHEMA_FILE);
  await adminQuery(adminUrl, `CREATE DATABASE ${templates.migrated} TEMPLATE ${templates.legacy}`);
  await migrate(withDatabase(adminUrl, templates.migrated), { logger: silentLogger(), lockTimeoutMs: 2000 });
  project.provide('pgAdminUrl', adminUrl);
  project.provide('pgTemplates', templates);
}

export async function teardown(): Promise<void> {
  if (kafkaBroker) {
    await kafkaBroker.stop();
    kafkaBroker = undefined;
  }
  if (server) {
    await server.stop();
    server = undefined;
  } else if (templates && adminUrl) {
    await adminQuery(adminUrl, `DROP DATABASE IF EXISTS ${templates.migrated}`).catch(() => undefined);
    await adminQuery(adminUrl, `DROP DATABASE IF EXISTS ${templates.legacy}`).catch(() => undefined);
  }
}
