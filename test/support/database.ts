// A fresh database per test file, cloned from a template made by the global setup.
import { inject } from 'vitest';
import pg from 'pg';
import { randomBytes } from 'node:crypto';

export interface TestDatabase {
  name: string;
  url: string;
  /** A client for the test's own queries (closed by drop()). */
  query<R extends pg.QueryResultRow = pg.QueryResultRow>(sql: string, params?: unknown[]): Promise<pg.QueryResult<R>>;
  drop(): Promise<void>;
}

export function databaseUrl(adminUrl: string, database: string): string {
  const u = new URL(adminUrl);
  u.pathname = '/' + database;
  return u.toString();
}

export async function createTestDatabase(template: 'legacy' | 'migrated' | 'empty' = 'migrated'): Promise<TestDatabase> {
  const adminUrl = inject('pgAdminUrl');
  const templates = inject('pgTemplates');
  const name = `t_${randomBytes(6).toString('hex')}`;
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  try {
    const from = template === 'empty' ? 'template0' : templates[template];
    for (let attempt = 1; ; attempt++) {
      try {
        await admin.query(`CREATE DATABASE ${name} TEMPLATE ${from}`);
        break;
      } catch (err) {
        // 55006: the template is briefly in use by a concurrent clone
        if ((err as { code?: string }).code !== '55006' || attempt > 50) throw err;
        await new Promise((r) => setTimeout(r, 100 * attempt));
      }
    }
  } finally {
    await admin.end();
  }
  const url = databaseUrl(adminUrl, name);
  const pool = new pg.Pool({ connectionString: url, max: 4 });
  pool.on('error', () => undefined);
  return {
    name,
    url,
    query: (sql, params) => pool.query(sql, params as unknown[]),
    async drop() {
      await pool.end().catch(() => undefined);
      const a = new pg.Client({ connectionString: adminUrl });
      await a.connect();
      try {
        // Connections still open are given the pool idle timeout (10 s) to close by themselves first:
        // terminating a pooled connection of this test process that nobody listens to errors on would
        // surface as an uncaught exception in the file. Then whatever is left is terminated.
        const deadline = Date.now() + 12_000;
        while (Date.now() < deadline) {
          const r = await a.query<{ n: number }>(
            `SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid() AND backend_type = 'client backend'`,
            [name],
          );
          if (r.rows[0]!.n === 0) break;
          await new Promise((resolve) => setTimeout(resolve, 250));
        }
        // Slots created in the database would keep it from being dropped.
        await a.query(
          `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()`,
          [name],
        );
        await a.query(
          `SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE database = $1 AND NOT active`,
          [name],
        );
        await a.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      } finally {
        await a.end();
      }
    },
  };
}
