// PostgreSQL text values to the column values change events carry, by type OID. One normaliser for
// both the replication stream (pgoutput's text tuples) and snapshot reads, so a row reads the same
// whichever way it arrives. Money stays a decimal string; timestamps become ISO 8601 UTC with six
// fractional digits (sortable as text); booleans and 16/32-bit integers become JSON values.
import type { ColumnValue } from '../../services/domain/change-event.ts';

export const OID = {
  bool: 16,
  int8: 20,
  int2: 21,
  int4: 23,
  text: 25,
  numeric: 1700,
  timestamp: 1114,
  timestamptz: 1184,
  date: 1082,
} as const;

const TS = /^(\d{4,})-(\d{2})-(\d{2})[ T](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,6}))?(?:([+-])(\d{2})(?::?(\d{2}))?(?::?(\d{2}))?)?$/;

/** "2024-01-05 10:00:00.12" (timestamp, read as UTC) or "…+05:30" (timestamptz) → "2024-01-05T10:00:00.120000Z". */
export function normalizeTimestamp(text: string): string {
  if (text === 'infinity' || text === '-infinity') return text;
  const m = TS.exec(text);
  if (!m) return text; // BC dates and other oddities pass through and fail row validation downstream
  const frac = (m[7] ?? '').padEnd(6, '0');
  if (!m[8]) return `${m[1]}-${m[2]}-${m[3]}T${m[4]}:${m[5]}:${m[6]}.${frac}Z`;
  const sign = m[8] === '+' ? 1 : -1;
  const offsetSeconds = sign * (Number(m[9]) * 3600 + Number(m[10] ?? 0) * 60 + Number(m[11] ?? 0));
  const ms = Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3]), Number(m[4]), Number(m[5]), Number(m[6])) - offsetSeconds * 1000;
  const iso = new Date(ms).toISOString(); // whole seconds: the fraction is carried separately
  return `${iso.slice(0, 19)}.${frac}Z`;
}

export function normalizePgText(typeOid: number, text: string | null): ColumnValue {
  if (text === null) return null;
  switch (typeOid) {
    case OID.bool:
      return text === 't' || text === 'true';
    case OID.int2:
    case OID.int4:
      return Number(text);
    case OID.timestamp:
    case OID.timestamptz:
      return normalizeTimestamp(text);
    default:
      return text; // numeric, int8, text, date, and anything else: exact text
  }
}

/** pg query option: every column as its raw text, so that normalizePgText sees what the server sent. */
export const RAW_TEXT_TYPES = { getTypeParser: () => (value: string) => value } as const;
