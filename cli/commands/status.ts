// status [--json]: where the migration stands, on one screen (services/reconciler/migration-status.ts),
// read from the database. Exit 0 when nothing needs attention, 1 when something does (listed), 2 on a
// usage or configuration error.
import pg from 'pg';
import { requireDatabaseUrl } from '../../services/runtime/config.ts';
import { readMigrationStatus, renderStatus, SLOT_WAL_ATTENTION_BYTES } from '../../services/reconciler/migration-status.ts';
import type { Command } from './types.ts';

export const statusCommand: Command = {
  summary: 'status [--json]: phase, per-table progress, lag, paused/throttled and why, failed records, last verification, slot WAL; exit 1 when something needs attention',
  options: { json: { type: 'boolean', default: false } },
  async run({ config, values, out }) {
    const pool = new pg.Pool({ connectionString: requireDatabaseUrl(config), max: 2, application_name: 'prestamos-cdc status' });
    pool.on('error', () => undefined);
    try {
      const status = await readMigrationStatus(pool, {
        slotName: config.slotName,
        maxLagSeconds: config.throttle.lagSeconds,
        verifyIntervalSeconds: config.verify.intervalSeconds,
        errorRateThreshold: config.errorRate.threshold,
        maxRetainedWalBytes: SLOT_WAL_ATTENTION_BYTES,
      });
      out(values.json ? JSON.stringify(status, null, 2) : renderStatus(status));
      return status.attention.length === 0 ? 0 : 1;
    } finally {
      await pool.end().catch(() => undefined);
    }
  },
};
