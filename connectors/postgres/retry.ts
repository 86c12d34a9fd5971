// What to do when PostgreSQL says no, keyed by SQLSTATE: retry (with which backoff) or give up.
// One table for the whole project, so the migrator, the apply and the reconciler agree.

interface RetryRule {
  /** first delay in ms; doubles per attempt up to maxMs, with ±25 % jitter */
  baseMs: number;
  maxMs: number;
  why: string;
}

export const RETRYABLE_SQLSTATES: Readonly<Record<string, RetryRule>> = {
  '40001': { baseMs: 20, maxMs: 2_000, why: 'serialization_failure' },
  '40P01': { baseMs: 20, maxMs: 2_000, why: 'deadlock_detected' },
  '55P03': { baseMs: 250, maxMs: 10_000, why: 'lock_not_available (lock_timeout)' },
  '57P01': { baseMs: 500, maxMs: 15_000, why: 'admin_shutdown (server restarting)' },
  '57P02': { baseMs: 500, maxMs: 15_000, why: 'crash_shutdown' },
  '57P03': { baseMs: 500, maxMs: 15_000, why: 'cannot_connect_now (server starting)' },
  '53300': { baseMs: 500, maxMs: 15_000, why: 'too_many_connections' },
  '08000': { baseMs: 500, maxMs: 15_000, why: 'connection_exception' },
  '08003': { baseMs: 500, maxMs: 15_000, why: 'connection_does_not_exist' },
  '08006': { baseMs: 500, maxMs: 15_000, why: 'connection_failure' },
  '08001': { baseMs: 500, maxMs: 15_000, why: 'sqlclient_unable_to_establish_sqlconnection' },
  '08004': { baseMs: 500, maxMs: 15_000, why: 'sqlserver_rejected_establishment_of_sqlconnection' },
};

// Node-level errors that mean the connection went away (server restart, network).
const RETRYABLE_NODE_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENOTFOUND']);

export function retryableSqlState(code: string | undefined): boolean {
  return code !== undefined && code in RETRYABLE_SQLSTATES;
}

/** True for errors worth retrying: a retryable SQLSTATE or a broken connection. */
export function isTransientDbError(err: unknown): boolean {
  const e = err as { code?: string; message?: string } | undefined;
  if (!e) return false;
  if (retryableSqlState(e.code)) return true;
  if (e.code && RETRYABLE_NODE_CODES.has(e.code)) return true;
  const msg = e.message ?? '';
  return /Connection terminated|connection.*(closed|ended)|Client has encountered a connection error|terminating connection/i.test(msg);
}

export function retryDelayMs(code: string | undefined, attempt: number): number {
  const rule = (code && RETRYABLE_SQLSTATES[code]) || { baseMs: 500, maxMs: 15_000 };
  const raw = Math.min(rule.maxMs, rule.baseMs * 2 ** Math.max(0, attempt - 1));
  const jitter = raw * 0.25 * (Math.random() * 2 - 1);
  return Math.max(1, Math.round(raw + jitter));
}
