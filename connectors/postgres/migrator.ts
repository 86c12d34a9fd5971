// Applies the migration objects (plain SQL files in sql/) in a fixed order, idempotently, and records
// each applied file with its SHA-256. A recorded file whose content changed stops the run: the
// database holds what the old text created, and silently re-running a different text is how
// migrations drift. Lock timeouts (55P03) and deadlocks (40P01) are retried with backoff; every file is
// idempotent, so re-running one from the top is safe.
import { setTimeout as sleep } from 'node:timers/promises';
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import type { Logger } from '../../services/runtime/logger.ts';
import { retryDelayMs, retryableSqlState } from './retry.ts';

export const SQL_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../sql');

/** The migration objects, in the order they are applied. */
export const MIGRATION_FILES = [
  'add_capital_tracking.sql',
  'prestamos_cdc_state.sql',
  'verification_views.sql',
  'reconciler_views.sql',
  // A shipped file never changes (its checksum is recorded): a correction comes as a new file here.
  'capital_follows_junta_id.sql',
  'background_verification.sql',
  'offsets_applied_lsn.sql',
  'truncation_floors.sql',
  'pipeline_phase_derived.sql',
] as const;

export const LEGACY_SCHEMA_FILE = 'legacy_schema.sql';
export const ROLLBACK_FILE = 'rollback_capital_tracking.sql';

export class MigrationChangedError extends Error {
  readonly file: string;
  constructor(file: string, recorded: string, current: string) {
    super(
      `sql/${file} was applied with checksum ${recorded.slice(0, 12)}… but the file now has ${current.slice(0, 12)}…; ` +
        'an applied migration must not change: add a new file instead (refusing to continue)',
    );
    this.name = 'MigrationChangedError';
    this.file = file;
  }
}

export interface MigrateOptions {
  logger: Logger;
  lockTimeoutMs: number;
  /** Attempts per file when a lock cannot be obtained in time. */
  maxAttempts?: number;
  sqlDir?: string;
  files?: readonly string[];
}

export interface MigrationOutcome {
  file: string;
  checksum: string;
  status: 'applied' | 'unchanged';
  attempts: number;
}

export async function readSqlFile(file: string, sqlDir = SQL_DIR): Promise<{ text: string; checksum: string }> {
  const text = await readFile(path.join(sqlDir, file), 'utf8');
  return { text, checksum: createHash('sha256').update(text).digest('hex') };
}

const BOOTSTRAP = `
  CREATE SCHEMA IF NOT EXISTS prestamos_cdc;
  CREATE TABLE IF NOT EXISTS prestamos_cdc.schema_migrations (
    name       text PRIMARY KEY,
    checksum   text NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
  );`;

// Serialises concurrent `migrate` runs against one database.
const MIGRATE_LOCK_KEY = 0x70726573; // 'pres'

export async function migrate(databaseUrl: string, options: MigrateOptions): Promise<MigrationOutcome[]> {
  const { logger } = options;
  const files = options.files ?? MIGRATION_FILES;
  const maxAttempts = options.maxAttempts ?? 20;
  const client = new pg.Client({ connectionString: databaseUrl, application_name: 'prestamos-cdc migrate' });
  await client.connect();
  try {
    await client.query(`SET lock_timeout = ${Number(options.lockTimeoutMs)}`);
    await client.query('SELECT pg_advisory_lock($1)', [MIGRATE_LOCK_KEY]);
    await withLockRetry(() => client.query(BOOTSTRAP), maxAttempts, logger, 'bootstrap');
    const outcomes: MigrationOutcome[] = [];
    for (const file of files) {
      const { text, checksum } = await readSqlFile(file, options.sqlDir);
      const recorded = await client.query<{ checksum: string }>(
        'SELECT checksum FROM prestamos_cdc.schema_migrations WHERE name = $1',
        [file],
      );
      if (recorded.rows[0]) {
        if (recorded.rows[0].checksum !== checksum) throw new MigrationChangedError(file, recorded.rows[0].checksum, checksum);
        outcomes.push({ file, checksum, status: 'unchanged', attempts: 0 });
        logger.info({ file }, 'migration already applied');
        continue;
      }
      const attempts = await withLockRetry(
        async () => {
          await client.query(text);
          // A file leaves the session in whatever state its SETs chose; restore ours.
          await client.query(`SET lock_timeout = ${Number(options.lockTimeoutMs)}`);
        },
        maxAttempts,
        logger,
        file,
        async () => {
          await client.query('ROLLBACK').catch(() => undefined);
          await client.query(`SET lock_timeout = ${Number(options.lockTimeoutMs)}`);
        },
      );
      await client.query(
        'INSERT INTO prestamos_cdc.schema_migrations (name, checksum) VALUES ($1, $2)',
        [file, checksum],
      );
      logger.info({ file, attempts }, 'migration applied');
      outcomes.push({ file, checksum, status: 'applied', attempts });
    }
    return outcomes;
  } finally {
    await client.query('SELECT pg_advisory_unlock($1)', [MIGRATE_LOCK_KEY]).catch(() => undefined);
    await client.end().catch(() => undefined);
  }
}

async function withLockRetry(
  fn: () => Promise<unknown>,
  maxAttempts: number,
  logger: Logger,
  what: string,
  onRetry?: () => Promise<void>,
): Promise<number> {
  for (let attempt = 1; ; attempt++) {
    try {
      await fn();
      return attempt;
    } catch (err) {
      const code = (err as { code?: string }).code;
      if (!retryableSqlState(code) || attempt >= maxAttempts) throw err;
      const delay = retryDelayMs(code, attempt);
      logger.warn({ what, attempt, code, delayMs: delay, err: (err as Error).message }, 'migration step will be retried');
      await onRetry?.();
      await sleep(delay);
    }
  }
}

/** Runs a whole SQL file (legacy schema for development, rollback) as one multi-statement query. */
export async function runSqlFile(databaseUrl: string, file: string, sqlDir = SQL_DIR): Promise<pg.QueryResult[]> {
  const { text } = await readSqlFile(file, sqlDir);
  const client = new pg.Client({ connectionString: databaseUrl, application_name: `prestamos-cdc ${file}` });
  await client.connect();
  try {
    const res = (await client.query(stripPsqlMetaCommands(text))) as unknown as pg.QueryResult | pg.QueryResult[];
    return Array.isArray(res) ? res : [res];
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** psql's backslash commands (\echo) are not SQL; drop them when a file is sent through the protocol. */
export function stripPsqlMetaCommands(text: string): string {
  return text
    .split('\n')
    .filter((line) => !/^\s*\\/.test(line))
    .join('\n');
}
