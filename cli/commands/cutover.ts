// cutover --to new|legacy: switch the read-routing views, with the same checks and the same single
// transaction as POST /prestamos/migration/cutover (services/reconciler/cutover.ts), and an audit row.
import os from 'node:os';
import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { requireDatabaseUrl } from '../../services/runtime/config.ts';
import { ConflictError, errorMessage } from '../../services/runtime/errors.ts';
import { cutover, type ReadTarget } from '../../services/reconciler/cutover.ts';
import type { Command } from './types.ts';

export const cutoverCommand: Command = {
  summary: 'cutover --to new|legacy: switch application reads (the prestamos_read views) to the new tables or back; refuses unless safe (for "new")',
  options: { to: { type: 'string' }, json: { type: 'boolean', default: false } },
  async run({ config, logger, values, out }) {
    const url = requireDatabaseUrl(config);
    const to = values.to;
    if (to !== 'new' && to !== 'legacy') {
      out('usage: cutover --to new|legacy');
      return 2;
    }
    const pool = new pg.Pool({ connectionString: url, max: 3, application_name: 'prestamos-cdc cutover' });
    pool.on('error', () => undefined);
    const actor = `cli ${os.userInfo().username}@${os.hostname()}`;
    const requestId = `cli-${randomUUID()}`;
    const audit = (outcome: string, status: number) =>
      pool
        .query(
          `INSERT INTO prestamos_cdc.audit_log (actor, role, action, params, outcome, status, request_id) VALUES ($1, 'cli', 'migration.cutover', $2::jsonb, $3, $4, $5)`,
          [actor, JSON.stringify({ body: { to } }), outcome.slice(0, 2000), status, requestId],
        )
        .catch((err) => logger.error({ err: errorMessage(err) }, 'audit row could not be written'));
    try {
      const result = await cutover({ pool, logger, lockTimeoutMs: config.lockTimeoutMs, maxLagSeconds: config.cutoverMaxLagSeconds }, to as ReadTarget, actor);
      await audit('ok', 200);
      if (values.json) out(JSON.stringify(result, null, 2));
      else out(result.changed ? `reads switched to the ${result.readsFrom} tables at ${result.switchedAt} (${result.durationMs} ms)` : `reads already come from the ${result.readsFrom} tables; nothing changed`);
      return 0;
    } catch (err) {
      if (err instanceof ConflictError) {
        await audit(`error: ${err.message}`, 409);
        if (values.json) out(JSON.stringify({ error: err.message, reasons: err.reasons }, null, 2));
        else {
          out(`REFUSED: ${err.message}`);
          for (const r of err.reasons) out(`  - ${r}`);
        }
        return 1;
      }
      await audit(`error: ${errorMessage(err)}`, 500);
      throw err;
    } finally {
      await pool.end().catch(() => undefined);
    }
  },
};
