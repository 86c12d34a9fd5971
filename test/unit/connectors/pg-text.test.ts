import { describe, expect, it } from 'vitest';
import { normalizePgText, normalizeTimestamp, OID } from '../../../connectors/postgres/pg-text.ts';

describe('PostgreSQL text values', () => {
  it('normalises timestamps to ISO UTC with six fractional digits', () => {
    expect(normalizeTimestamp('2024-01-05 10:00:00.12')).toBe('2024-01-05T10:00:00.120000Z');
    expect(normalizeTimestamp('2024-01-05 10:00:00')).toBe('2024-01-05T10:00:00.000000Z');
    expect(normalizeTimestamp('2024-01-05 10:00:00.123456+05:30')).toBe('2024-01-05T04:30:00.123456Z');
    expect(normalizeTimestamp('2024-01-01 01:00:00-02')).toBe('2024-01-01T03:00:00.000000Z');
    expect(normalizeTimestamp('infinity')).toBe('infinity');
  });
  it('keeps money exact and types booleans and small integers', () => {
    expect(normalizePgText(OID.numeric, '12345678901.23')).toBe('12345678901.23');
    expect(normalizePgText(OID.bool, 't')).toBe(true);
    expect(normalizePgText(OID.bool, 'f')).toBe(false);
    expect(normalizePgText(OID.int4, '42')).toBe(42);
    expect(normalizePgText(OID.int8, '9007199254740993')).toBe('9007199254740993');
    expect(normalizePgText(OID.text, null)).toBeNull();
  });
});
