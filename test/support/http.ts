// Calling a running process's HTTP API from tests, with bearer tokens made directly in its database.
import pg from 'pg';
import { createToken, type Role } from '../../services/reconciler/tokens.ts';
import type { TestDatabase } from './database.ts';

export interface ApiResponse {
  status: number;
  /** parsed JSON (of many shapes: each test checks what it needs) */
  body: any;
  text: string;
  headers: Headers;
}

export interface CallOptions {
  token?: string;
  /** sent as JSON */
  json?: unknown;
  /** sent as is (with contentType, default application/json) */
  raw?: string;
  contentType?: string;
  headers?: Record<string, string>;
}

export async function call(baseUrl: string, method: string, path: string, o: CallOptions = {}): Promise<ApiResponse> {
  const headers: Record<string, string> = { ...(o.headers ?? {}) };
  if (o.token) headers.authorization = `Bearer ${o.token}`;
  let body: string | undefined;
  if (o.json !== undefined) {
    body = JSON.stringify(o.json);
    headers['content-type'] = 'application/json';
  } else if (o.raw !== undefined) {
    body = o.raw;
    headers['content-type'] = o.contentType ?? 'application/json';
  }
  const res = await fetch(baseUrl + path, { method, headers, body });
  const text = await res.text();
  let parsed: unknown = undefined;
  try {
    parsed = text ? JSON.parse(text) : undefined;
  } catch {
    parsed = undefined;
  }
  return { status: res.status, body: parsed, text, headers: res.headers };
}

export interface Tokens {
  admin: string;
  operator: string;
  viewer: string;
}

export async function makeTokens(db: TestDatabase): Promise<Tokens> {
  const pool = new pg.Pool({ connectionString: db.url, max: 1 });
  try {
    return {
      admin: (await createToken(pool, 'admin' as Role, 'test-admin')).token,
      operator: (await createToken(pool, 'operator' as Role, 'test-operator')).token,
      viewer: (await createToken(pool, 'viewer' as Role, 'test-viewer')).token,
    };
  } finally {
    await pool.end();
  }
}
