// The demo's database on its server: the legacy schema (sql/legacy_schema.sql) with generated juntas,
// loans, payments, shares and fines (services/testdata/generator.ts, from a seed), then the migration
// objects (the migrator). A database that already holds legacy rows — a data directory kept from an
// earlier run — is used as it is: nothing is generated again.
import pg from 'pg';
import type { Logger } from '../runtime/logger.ts';
import { migrate, runSqlFile, LEGACY_SCHEMA_FILE, type MigrationOutcome } from '../../connectors/postgres/migrator.ts';
import { transactionOn } from '../../connectors/postgres/transaction.ts';
import { generateLegacyData, insertLegacyData, type LegacyData } from '../testdata/generator.ts';

/** Loans per junta in the generated data (each junta also gets 12 members, 4 shares and 2 fines). */
export const LOANS_PER_JUNTA = 50;

export interface DemoDatabaseOptions {
  /** a URL of the server (any database: used to create the demo's own) */
  adminUrl: string;
  database: string;
  loans: number;
  seed: number;
  logger: Logger;
  lockTimeoutMs: number;
}

export interface LegacyCounts {
  juntas: number;
  loans: number;
  payments: number;
  shares: number;
  fines: number;
}

export interface DemoDatabase {
  url: string;
  /** the database held legacy rows already (an earlier run's data directory) */
  resumed: boolean;
  counts: LegacyCounts;
  migrations: MigrationOutcome[];
}

export function withDatabase(url: string, database: string): string {
  const u = new URL(url);
  u.pathname = '/' + database;
  return u.toString();
}

/** Exactly `loans` loans: whole juntas of LOANS_PER_JUNTA, the last one trimmed (with its payments). */
export function demoData(loans: number, seed: number): LegacyData {
  const juntas = Math.max(1, Math.ceil(loans / LOANS_PER_JUNTA));
  const data = generateLegacyData({ seed, juntas, loansPerJunta: Math.min(loans, LOANS_PER_JUNTA) });
  if (data.prestamos.length > loans) {
    data.prestamos = data.prestamos.slice(0, loans);
    const kept = new Set(data.prestamos.map((p) => p.id));
    data.pagos = data.pagos.filter((g) => kept.has(g.prestamoId));
  }
  return data;
}

export async function prepareDemoDatabase(options: DemoDatabaseOptions): Promise<DemoDatabase> {
  if (!/^[a-z_][a-z0-9_]{0,62}$/.test(options.database)) throw new Error(`invalid database name "${options.database}"`);
  const admin = new pg.Client({ connectionString: options.adminUrl, application_name: 'prestamos-cdc demo' });
  await admin.connect();
  try {
    const exists = await admin.query('SELECT 1 FROM pg_database WHERE datname = $1', [options.database]);
    if (!exists.rowCount) await admin.query(`CREATE DATABASE ${options.database}`);
  } finally {
    await admin.end().catch(() => undefined);
  }
  const url = withDatabase(options.adminUrl, options.database);
  await runSqlFile(url, LEGACY_SCHEMA_FILE);
  const client = new pg.Client({ connectionString: url, application_name: 'prestamos-cdc demo' });
  await client.connect();
  let resumed = true;
  try {
    const any = await client.query('SELECT 1 FROM "Junta" LIMIT 1');
    if (!any.rowCount) {
      resumed = false;
      const data = demoData(options.loans, options.seed);
      await transactionOn(client, (c) => insertLegacyData(c, data));
      options.logger.info({ seed: options.seed, juntas: data.juntas.length, loans: data.prestamos.length, payments: data.pagos.length }, 'demo data generated');
    }
  } finally {
    await client.end().catch(() => undefined);
  }
  const migrations = await migrate(url, { logger: options.logger, lockTimeoutMs: options.lockTimeoutMs });
  return { url, resumed, counts: await legacyCounts(url), migrations };
}

export async function legacyCounts(url: string): Promise<LegacyCounts> {
  const client = new pg.Client({ connectionString: url, application_name: 'prestamos-cdc demo' });
  await client.connect();
  try {
    const r = await client.query<Record<keyof LegacyCounts, string>>(
      `SELECT (SELECT count(*) FROM "Junta")::text AS juntas, (SELECT count(*) FROM "Prestamo")::text AS loans,
              (SELECT count(*) FROM "PagoPrestamo")::text AS payments, (SELECT count(*) FROM "Accion")::text AS shares,
              (SELECT count(*) FROM "Multa")::text AS fines`,
    );
    const x = r.rows[0]!;
    return { juntas: Number(x.juntas), loans: Number(x.loans), payments: Number(x.payments), shares: Number(x.shares), fines: Number(x.fines) };
  } finally {
    await client.end().catch(() => undefined);
  }
}
