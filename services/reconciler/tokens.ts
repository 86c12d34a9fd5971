// Bearer tokens: "pcdc_<id>_<secret>". Only SHA-256 of the secret is stored; a presented token is found
// by its id and its secret compared with timingSafeEqual. Revocable.
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Queryable } from '../runtime/queryable.ts';

export const ROLES = ['admin', 'operator', 'viewer'] as const;
export type Role = (typeof ROLES)[number];

export interface Principal {
  tokenId: string;
  name: string;
  role: Role;
}


const TOKEN = /^pcdc_(\d{1,18})_([A-Za-z0-9_-]{43})$/;

function hash(secret: string): string {
  return createHash('sha256').update(secret).digest('hex');
}

export async function createToken(db: Queryable, role: Role, name: string): Promise<{ id: string; token: string }> {
  if (!ROLES.includes(role)) throw new Error(`role must be one of ${ROLES.join(', ')}`);
  const secret = randomBytes(32).toString('base64url');
  const r = await db.query<{ id: string }>(
    `INSERT INTO prestamos_cdc.api_tokens (name, role, token_hash) VALUES ($1, $2, $3) RETURNING id::text`,
    [name, role, hash(secret)],
  );
  const id = r.rows[0]!.id;
  return { id, token: `pcdc_${id}_${secret}` };
}

export async function revokeToken(db: Queryable, id: string): Promise<boolean> {
  const r = await db.query(`UPDATE prestamos_cdc.api_tokens SET revoked_at = now() WHERE id = $1 AND revoked_at IS NULL`, [id]);
  return (r.rowCount ?? 0) > 0;
}

export async function listTokens(db: Queryable): Promise<{ id: string; name: string; role: Role; createdAt: string; revokedAt: string | null; lastUsedAt: string | null }[]> {
  const r = await db.query(`SELECT id::text, name, role, created_at::text, revoked_at::text, last_used_at::text FROM prestamos_cdc.api_tokens ORDER BY id`);
  return r.rows.map((x) => ({ id: x.id, name: x.name, role: x.role, createdAt: x.created_at, revokedAt: x.revoked_at, lastUsedAt: x.last_used_at }));
}

/** The principal of a presented bearer token, or null (malformed, unknown, revoked or wrong secret). */
export async function verifyToken(db: Queryable, presented: string): Promise<Principal | null> {
  const m = TOKEN.exec(presented);
  if (!m) return null;
  const r = await db.query<{ id: string; name: string; role: Role; token_hash: string }>(
    `SELECT id::text, name, role, token_hash FROM prestamos_cdc.api_tokens WHERE id = $1 AND revoked_at IS NULL`,
    [m[1]],
  );
  const row = r.rows[0];
  const expected = Buffer.from(row?.token_hash ?? '0'.repeat(64), 'hex');
  const actual = Buffer.from(hash(m[2]!), 'hex');
  const ok = timingSafeEqual(expected, actual) && row !== undefined;
  if (!ok) return null;
  void db.query(`UPDATE prestamos_cdc.api_tokens SET last_used_at = now() WHERE id = $1`, [row.id]).catch(() => undefined);
  return { tokenId: row.id, name: row.name, role: row.role };
}
