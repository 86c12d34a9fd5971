// preflight [--json]: the operators' guide's pre-migration checklist as checks; exits 1 on a blocking
// finding (services/reconciler/preflight.ts).
import pg from 'pg';
import { requireDatabaseUrl } from '../../services/runtime/config.ts';
import { runPreflight } from '../../services/reconciler/preflight.ts';
import type { Command } from './types.ts';

const MARK = { ok: 'ok  ', info: 'info', warn: 'WARN', fail: 'FAIL' } as const;

export const preflightCommand: Command = {
  summary: 'pre-migration checklist: wal_level, slots and senders, max_slot_wal_keep_size, primary keys, long transactions, counts, backup command (exit 1 on a blocking finding)',
  options: { json: { type: 'boolean', default: false }, 'long-transaction-seconds': { type: 'string' } },
  async run({ config, values, out }) {
    const url = requireDatabaseUrl(config);
    const longRaw = values['long-transaction-seconds'];
    const longSeconds = longRaw === undefined ? 60 : Number(longRaw);
    if (!Number.isInteger(longSeconds) || longSeconds < 0 || longSeconds > 86_400) {
      out('--long-transaction-seconds must be a whole number of seconds from 0 to 86400');
      return 2;
    }
    const client = new pg.Client({ connectionString: url, application_name: 'prestamos-cdc preflight' });
    await client.connect();
    try {
      const report = await runPreflight(client, {
        slotName: config.slotName,
        publicationName: config.publicationName,
        longTransactionSeconds: longSeconds,
        connectionsNeeded: config.pgPoolMax + 2,
      });
      if (values.json) {
        out(JSON.stringify(report, null, 2));
      } else {
        for (const f of report.findings) out(`${MARK[f.status]}  ${f.check.padEnd(24)} ${f.detail}`);
        out('');
        out(report.blocking ? 'BLOCKED: fix the FAIL findings before starting the migration' : 'no blocking finding; back up first:');
        if (!report.blocking) out(`  ${report.backupCommand}`);
      }
      return report.blocking ? 1 : 0;
    } finally {
      await client.end().catch(() => undefined);
    }
  },
};
