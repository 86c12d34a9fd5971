// Validation of everything a caller sends: path parameters, query strings and JSON bodies. A value that
// does not fit becomes a ValidationError (400) that says which parameter and why; nothing reaches SQL
// unchecked, and every SQL statement takes values as bind parameters anyway.
import { z } from 'zod';
import { ValidationError } from '../runtime/errors.ts';

export const MAX_ID_LENGTH = 200;

// C0 and C1 control characters (NUL among them: PostgreSQL text cannot hold it), and the Unicode
// line/paragraph separators and BOM. Letters of any script are fine: ids are text.
const NOT_PRINTABLE = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\ufeff]/;

/** A row id from the path: non-empty, at most 200 characters, printable. */
export function parseRowId(raw: unknown, name = 'id'): string {
  if (typeof raw !== 'string' || raw.length === 0) throw new ValidationError(`${name} is required`, 'invalid_id');
  if (raw.length > MAX_ID_LENGTH) throw new ValidationError(`${name} must have at most ${MAX_ID_LENGTH} characters (got ${raw.length})`, 'invalid_id');
  if (NOT_PRINTABLE.test(raw)) throw new ValidationError(`${name} must contain printable characters only`, 'invalid_id');
  if (raw.trim() !== raw) throw new ValidationError(`${name} must not start or end with white space`, 'invalid_id');
  if (!raw.isWellFormed()) throw new ValidationError(`${name} must be well-formed Unicode`, 'invalid_id');
  return raw;
}

/** A positive integer id (bigint identity columns) as decimal text. */
export function parseNumericId(raw: unknown, name = 'id'): string {
  if (typeof raw !== 'string' || !/^[1-9]\d{0,17}$/.test(raw)) throw new ValidationError(`${name} must be a positive integer`, 'invalid_id');
  return raw;
}

function issues(error: z.ZodError): { path: string; message: string }[] {
  return error.issues.map((i) => ({ path: i.path.map(String).join('.') || '(root)', message: i.message }));
}

/**
 * A JSON body against a strict schema. `undefined` (no body, or a body that was not JSON) is treated
 * as `{}` so that endpoints whose fields are all optional accept an empty POST.
 */
export function parseBody<T>(schema: z.ZodType<T>, body: unknown, contentType: string | undefined): T {
  if (body === undefined && contentType && !/^application\/json\b/i.test(contentType) && contentType.trim() !== '') {
    throw new ValidationError(`the body must be JSON (Content-Type: application/json), not ${contentType.slice(0, 100)}`, 'invalid_body');
  }
  const parsed = schema.safeParse(body === undefined ? {} : body);
  if (!parsed.success) {
    const list = issues(parsed.error);
    throw new ValidationError(`invalid body: ${list.map((i) => `${i.path}: ${i.message}`).join('; ')}`, 'invalid_body', list);
  }
  return parsed.data;
}

/** Query parameters against a strict schema (the app uses the "simple" query parser: strings only). */
export function parseQuery<T>(schema: z.ZodType<T>, query: unknown): T {
  const parsed = schema.safeParse(query ?? {});
  if (!parsed.success) {
    const list = issues(parsed.error);
    throw new ValidationError(`invalid query: ${list.map((i) => `${i.path}: ${i.message}`).join('; ')}`, 'invalid_query', list);
  }
  return parsed.data;
}

/** An integer query parameter from a string: digits only, within bounds (the message names the range). */
export function intParam(min: number, max: number, fallback: number) {
  const range = `a whole number from ${min} to ${max}`;
  return z
    .string()
    .regex(/^\d{1,100}$/, `must be ${range}`)
    .transform(Number)
    .pipe(z.number().int().min(min, `must be ${range}`).max(max, `must be ${range}`))
    .optional()
    .transform((v) => v ?? fallback);
}

/** An empty body: nothing but `{}` (or no body at all). */
export const EMPTY_BODY = z.object({}).strict();

/**
 * Makes a value safe to store as jsonb and to log: strings lose NUL and lone surrogates (jsonb refuses
 * both), and very deep or wide values are cut.
 */
export function sanitizeForJson(value: unknown, depth = 0): unknown {
  if (typeof value === 'string') return value.toWellFormed().replace(/\u0000/g, '\ufffd');
  if (value === null || typeof value === 'number' || typeof value === 'boolean') return value;
  if (depth > 5) return '(nested too deep)';
  if (Array.isArray(value)) return value.slice(0, 50).map((v) => sanitizeForJson(v, depth + 1));
  if (typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value as Record<string, unknown>).slice(0, 50)) out[sanitizeForJson(k, depth + 1) as string] = sanitizeForJson(v, depth + 1);
    return out;
  }
  return String(value);
}
