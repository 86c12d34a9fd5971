import { migrate, runSqlFile, LEGACY_SCHEMA_FILE } from '../../connectors/postgres/migrator.ts';
import { requireDatabaseUrl } from '../../services/runtime/config.ts';
import type { Command } from './types.ts';

export const migrateCommand: Command = {
  summary: 'apply the migration objects of sql/ idempotently (records checksums; retries lock timeouts)',
  options: { 'with-legacy-schema': { type: 'boolean', default: false } },
  async run({ config, logger, values, out }) {
    const url = requireDatabaseUrl(config);
    if (values['with-legacy-schema']) {
      // Development only: create the legacy tables first (they exist already in production).
      await runSqlFile(url, LEGACY_SCHEMA_FILE);
      out(`legacy schema ensured (${LEGACY_SCHEMA_FILE})`);
    }
    const outcomes = await migrate(url, { logger, lockTimeoutMs: config.lockTimeoutMs });
    for (const outcome of outcomes) out(`${outcome.status.padEnd(9)} ${outcome.file} sha256:${outcome.checksum.slice(0, 16)}${outcome.attempts > 1 ? ` (${outcome.attempts} attempts)` : ''}`);
    return 0;
  },
};
