// token create --role admin|operator|viewer [--name N] | token revoke <id> | token list
// The new token is printed as the last line of the output; only its hash is stored.
import pg from 'pg';
import { requireDatabaseUrl } from '../../services/runtime/config.ts';
import { createToken, revokeToken, listTokens, ROLES, type Role } from '../../services/reconciler/tokens.ts';
import { migrate } from '../../connectors/postgres/migrator.ts';
import type { Command } from './types.ts';

export const tokenCommand: Command = {
  summary: 'token create --role admin|operator|viewer [--name N] | token revoke <id> | token list',
  positionals: true,
  options: { role: { type: 'string' }, name: { type: 'string' } },
  async run({ config, logger, values, positionals, out }) {
    const url = requireDatabaseUrl(config);
    const [action, arg] = positionals;
    if (action !== 'create' && action !== 'revoke' && action !== 'list') {
      out('usage: token create --role admin|operator|viewer [--name N] | token revoke <id> | token list');
      return 2;
    }
    // the token table is one of the migration objects
    await migrate(url, { logger, lockTimeoutMs: config.lockTimeoutMs });
    const client = new pg.Client({ connectionString: url, application_name: 'prestamos-cdc token' });
    await client.connect();
    try {
      if (action === 'create') {
        const role = String(values.role ?? '');
        if (!(ROLES as readonly string[]).includes(role)) {
          out(`--role must be one of ${ROLES.join(', ')}`);
          return 2;
        }
        const name = String(values.name ?? `${role}-${new Date().toISOString().slice(0, 10)}`);
        if (name.length < 1 || name.length > 100) {
          out('--name must have 1 to 100 characters');
          return 2;
        }
        const { id, token } = await createToken(client, role as Role, name);
        out(`created ${role} token #${id} "${name}" (only its hash is stored; keep it now):`);
        out(token);
        return 0;
      }
      if (action === 'revoke') {
        if (!arg || !/^\d{1,18}$/.test(arg)) {
          out('usage: token revoke <id>');
          return 2;
        }
        const done = await revokeToken(client, arg);
        out(done ? `token #${arg} revoked` : `no active token #${arg}`);
        return done ? 0 : 1;
      }
      for (const t of await listTokens(client)) out(`#${t.id}\t${t.role}\t${t.name}\tcreated ${t.createdAt}${t.revokedAt ? `\trevoked ${t.revokedAt}` : ''}`);
      return 0;
    } finally {
      await client.end();
    }
  },
};
