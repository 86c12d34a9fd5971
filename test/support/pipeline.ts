// Running the real pipeline inside a test: config from a plain record (as the CLI would build it from
// the environment), a process with capture/sync/API, and helpers to wait for it to catch up and to
// compare the new tables and the ledger against what the legacy rows imply (the SQL views of
// sql/verification_views.sql, independent of the apply code).
import { expect } from 'vitest';
import type pg from 'pg';
import { loadConfig, type Config } from '../../services/runtime/config.ts';
import { appliedThrough, waitUntilApplied, writeHeartbeat } from '../../services/runtime/control-plane.ts';
import { silentLogger, createLogger, type Logger } from '../../services/runtime/logger.ts';
import { startProcess, type RunningProcess } from '../../services/orchestrator/process-runner.ts';
import { startMigration } from '../../services/reconciler/migration-starter.ts';
import { reconcilerRoutes } from '../../services/reconciler/routes/index.ts';
import type { TestDatabase } from './database.ts';
import { waitFor } from './wait.ts';
import { createLoanWriter } from '../../services/sync/loan-writer.ts';

/**
 * Configuration for a test database: its own slot (slot names are unique per server), and its own topic
 * prefix and consumer group, so that test files share one Kafka broker without seeing each other.
 */
export function configFor(db: TestDatabase, overrides: Record<string, string> = {}): Config {
  return testConfig({ SLOT_NAME: `slot_${db.name}`, TOPIC_PREFIX: `p_${db.name}`, KAFKA_GROUP_ID: `g_${db.name}`, ...overrides });
}

export function testConfig(overrides: Record<string, string> = {}): Config {
  return loadConfig({
    HTTP_PORT: '0',
    HTTP_HOST: '127.0.0.1',
    LOG_LEVEL: 'silent',
    HEARTBEAT_INTERVAL_MS: '500',
    SNAPSHOT_CHUNK_SIZE: '500',
    APPLY_BATCH_SIZE: '1000',
    PUBLISH_BATCH_SIZE: '1000',
    SHUTDOWN_TIMEOUT_MS: '20000',
    // one broker: topics are created with replication factor 1 without the production warning
    KAFKA_REPLICATION_FACTOR: '1',
    KAFKA_TOPIC_PARTITIONS: '3',
    ...overrides,
  });
}

export function testLogger(): Logger {
  return process.env.TEST_LOG_LEVEL ? createLogger({ level: process.env.TEST_LOG_LEVEL, name: 'test' }) : silentLogger();
}

export async function startTestProcess(
  db: TestDatabase,
  options: { config?: Config; capture?: boolean; sync?: boolean; api?: boolean; mode?: 'inline' | 'kafka'; logger?: Logger } = {},
): Promise<RunningProcess> {
  const config = options.config ?? configFor(db);
  const logger = options.logger ?? testLogger();
  const capture = options.capture ?? true;
  const sync = options.sync ?? true;
  return startProcess({
    config,
    databaseUrl: db.url,
    logger,
    mode: options.mode ?? 'inline',
    capture,
    sync,
    applicationName: 'prestamos-cdc test',
    apiRoutes: ({ database, databaseUrl, pipeline, metrics }) =>
      options.api === false ? [] : reconcilerRoutes({ config, databaseUrl, logger, pipeline, loans: createLoanWriter({ pool: database.pool, logger, metrics }) }),
  });
}

/** Starts the migration directly (what POST /prestamos/migration/start does). */
export async function startMigrationFor(db: TestDatabase, config: Config = configFor(db)): Promise<void> {
  const pg = await import('pg');
  const pool = new pg.default.Pool({ connectionString: db.url, max: 2 });
  try {
    await startMigration({
      databaseUrl: db.url,
      pool,
      slotName: config.slotName,
      publicationName: config.publicationName,
      topicPrefix: config.topicPrefix,
      lockTimeoutMs: config.lockTimeoutMs,
      requestedBy: 'test',
      logger: silentLogger(),
    });
  } finally {
    await pool.end();
  }
}

export { waitFor };

/**
 * Waits until every change committed so far has been applied: a marker row is written to the
 * heartbeat table now, and the sync must have applied the heartbeat (the capture publishes it in
 * commit order, so everything before it has been applied too).
 */
export async function waitForCatchUp(db: TestDatabase, timeoutMs = 120_000): Promise<void> {
  await waitFor('the pipeline to be started', async () => (await db.query(`SELECT 1 FROM prestamos_cdc.pipeline`)).rowCount! > 0, timeoutMs);
  await waitFor(
    'every snapshot request to be applied',
    async () => {
      const r = await db.query<{ id: string; status: string; scope: string; chunks: string; unapplied: string; reason: string }>(
        `SELECT r.id::text, r.status, r.scope, r.reason,
                (SELECT count(*) FROM prestamos_cdc.snapshot_chunks c WHERE c.request_id = r.id)::text AS chunks,
                (SELECT string_agg(c.id || ':' || c.markers_applied || '/' || c.markers_expected || (CASE WHEN c.emitted_at IS NULL THEN ' not emitted' ELSE '' END), ', ')
                   FROM prestamos_cdc.snapshot_chunks c WHERE c.request_id = r.id AND c.applied_at IS NULL) AS unapplied
           FROM prestamos_cdc.snapshot_requests r WHERE r.status <> 'applied' ORDER BY r.id`,
      );
      if (r.rows.length === 0) return true;
      throw new Error(r.rows.slice(0, 8).map((x) => `request ${x.id} (${x.scope}, ${x.reason}) ${x.status}, ${x.chunks} chunks, unapplied: ${x.unapplied ?? 'none'}`).join('; '));
    },
    timeoutMs,
  );
  const target = await committedPosition(db);
  await waitFor(
    `the slot to confirm ${target}`,
    async () => {
      await writeHeartbeat(db);
      const r = await db.query<{ ok: boolean }>(
        `SELECT confirmed_flush_lsn >= $1::pg_lsn AS ok FROM pg_replication_slots WHERE database = current_database()`,
        [target],
      );
      return r.rows[0]?.ok === true;
    },
    timeoutMs,
    300,
  );
  // The syncs must also have applied it (Kafka mode: every partition's consumer; see appliedThrough).
  if (!(await waitUntilApplied(db as unknown as Pick<pg.Pool, 'query'>, timeoutMs, 300))) {
    throw new Error(`timed out after ${timeoutMs} ms waiting for the syncs to apply a heartbeat written now (applied through ${await appliedThrough(db as unknown as Pick<pg.Pool, 'query'>)})`);
  }
}

export interface ConsistencyReport {
  prestamo: { id: string; problem: string; fields: string[] }[];
  pago: { id: string; problem: string; fields: string[] }[];
  ledger: { type: string; row_id: string; junta_id: string; expected_worth: string; ledger_worth: string }[];
  capital: Record<string, unknown>[];
  counts: { loans: number; payments: number; movements: number };
}

export async function consistency(db: TestDatabase): Promise<ConsistencyReport> {
  const q = async <T>(sql: string) => (await db.query(sql)).rows as T[];
  const counts = (await q<{ loans: string; payments: string; movements: string }>(
    `SELECT (SELECT count(*) FROM "PrestamoNew")::text AS loans, (SELECT count(*) FROM "PagoPrestamoNew")::text AS payments,
            (SELECT count(*) FROM capital_movements)::text AS movements`,
  ))[0]!;
  return {
    prestamo: await q(`SELECT id, problem, fields FROM prestamos_cdc.prestamo_diff ORDER BY id LIMIT 20`),
    pago: await q(`SELECT id, problem, fields FROM prestamos_cdc.pago_diff ORDER BY id LIMIT 20`),
    ledger: await q(`SELECT type, row_id, junta_id, expected_worth::text, ledger_worth::text FROM prestamos_cdc.ledger_diff ORDER BY 1, 2 LIMIT 20`),
    capital: await q(`SELECT junta_id, available_capital::text, calculated_available::text, current_capital::text, calculated_current::text,
                             capital_difference::text, loans_difference::text FROM prestamos_cdc.capital_diff ORDER BY junta_id LIMIT 20`),
    counts: { loans: Number(counts.loans), payments: Number(counts.payments), movements: Number(counts.movements) },
  };
}

/** Asserts that the new tables and the ledger equal what the legacy tables imply, field by field. */
export async function expectConsistent(db: TestDatabase): Promise<ConsistencyReport> {
  const report = await consistency(db);
  expect({ prestamo: report.prestamo, pago: report.pago, ledger: report.ledger, capital: report.capital }).toEqual({ prestamo: [], pago: [], ledger: [], capital: [] });
  return report;
}

/**
 * A WAL position past every transaction committed so far: the insert position. Not
 * pg_current_wal_lsn() (the write position): with synchronous_commit off (the embedded server's
 * setting) a commit's WAL can still sit in the WAL buffers, so the write position can be short of
 * commits already made, and a wait for it returns before they have been streamed.
 */
export async function committedPosition(db: Pick<TestDatabase, 'query'>): Promise<string> {
  return (await db.query<{ lsn: string }>(`SELECT pg_current_wal_insert_lsn()::text AS lsn`)).rows[0]!.lsn;
}

/**
 * Waits until everything committed before this call is published: the slot has confirmed the WAL
 * position of this moment (a fixed target: the server's WAL position keeps moving with the other test
 * files' databases).
 */
export async function waitForPublished(db: TestDatabase, slot: string, timeoutMs = 120_000): Promise<void> {
  const target = await committedPosition(db);
  await waitFor('the capture to publish everything committed so far', async () => {
    const r = await db.query<{ ok: boolean }>(`SELECT confirmed_flush_lsn >= $2::pg_lsn AS ok FROM pg_replication_slots WHERE slot_name = $1`, [slot, target]);
    return r.rows[0]?.ok;
  }, timeoutMs);
}
