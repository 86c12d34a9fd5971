import { describe, expect, it } from 'vitest';
import { toEnvelope, fromEnvelope, keyOf } from '../../../connectors/kafka/envelope.ts';
import type { ChangeEvent } from '../../../services/domain/change-event.ts';
import { ValidationError } from '../../../services/runtime/errors.ts';

const position = { lsn: '0/16B3748', seq: 3, xid: '4294967301', commitTime: '2024-01-01T10:00:00.123Z' };
const snapPos = { lsn: '0/16B4000', snapshot: '100:105:101,103', chunkId: '7', requestId: '2', readTime: '2024-01-01T10:00:01.000Z' };
const events: ChangeEvent[] = [
  { kind: 'change', table: 'Prestamo', op: 'u', key: 'p1', after: { id: 'p1', monto: '10.00', cuotas: 3 }, unchangedToast: ['observaciones'], position },
  { kind: 'change', table: 'PagoPrestamo', op: 'd', key: 'g1', after: null, unchangedToast: [], position },
  { kind: 'snapshot', table: 'Accion', key: 'a1', after: { id: 'a1', cantidad: 2, affects_capital: true }, position: snapPos },
  { kind: 'truncate', table: 'Multa', position },
  { kind: 'chunk-end', table: 'Prestamo', scope: { kind: 'range', afterKey: null, throughKey: 'p9' }, keys: ['p1', 'p9'], markers: 4, markerIndex: 2, position: snapPos },
  { kind: 'chunk-end', table: 'PagoPrestamo', scope: { kind: 'loan', prestamoId: 'p1', absentKeys: ['g7'] }, keys: ['g2'], markers: 1, markerIndex: 0, position: snapPos },
  { kind: 'heartbeat', position },
];

describe('wire envelope', () => {
  it('round-trips every kind of event', () => {
    for (const e of events) expect(fromEnvelope(JSON.parse(JSON.stringify(toEnvelope(e, 'junta'))))).toEqual(e);
  });

  it('is Debezium-like: op, before (key only), after, source with commit LSN, xid, order, commit time', () => {
    const env = toEnvelope(events[0]!, 'junta');
    expect(env).toMatchObject({ op: 'u', before: { id: 'p1' }, after: { id: 'p1', monto: '10.00' }, unchanged_toast: ['observaciones'] });
    expect(env.source).toMatchObject({ connector: 'prestamos-cdc', name: 'junta', schema: 'public', table: 'Prestamo', lsn: '0/16B3748', seq: 3, txId: '4294967301', snapshot: 'false' });
    expect(keyOf(events[0]!)).toBe('{"id":"p1"}');
    // the unchanged column is listed, not sent as null
    expect('observaciones' in env.after!).toBe(false);
  });

  it('rejects malformed envelopes with a clear error', () => {
    const good = toEnvelope(events[0]!, 'junta') as unknown as Record<string, unknown>;
    const cases: [unknown, RegExp][] = [
      [null, /not an object/],
      [[], /not an object/],
      [{ ...good, op: 'x' }, /op "x"/],
      [{ ...good, source: { ...(good.source as object), lsn: 'DROP TABLE' } }, /source.lsn/],
      [{ ...good, source: { ...(good.source as object), table: 'pg_authid' } }, /not a captured table/],
      [{ ...good, source: { ...(good.source as object), txId: '-1' } }, /txId/],
      [{ ...good, source: { ...(good.source as object), seq: 1.5 } }, /seq/],
      [{ ...good, after: { id: 'p1', monto: { nested: true } } }, /after.monto/],
      [{ ...good, after: { id: '' } }, /after.id must not be empty/],
      [{ ...good, unchanged_toast: [1] }, /unchanged_toast/],
    ];
    for (const [value, message] of cases) {
      expect(() => fromEnvelope(value), JSON.stringify(value)?.slice(0, 80)).toThrow(ValidationError);
      expect(() => fromEnvelope(value)).toThrow(message);
    }
  });

  it('reads a loan marker without absentKeys (written before they existed) as removing nothing, and validates them', () => {
    const marker = toEnvelope(events[5]!, 'junta') as unknown as { marker: { scope: Record<string, unknown> } };
    const old = { ...marker, marker: { ...marker.marker, scope: { kind: 'loan', prestamoId: 'p1' } } };
    expect(fromEnvelope(old)).toMatchObject({ kind: 'chunk-end', scope: { kind: 'loan', prestamoId: 'p1', absentKeys: [] } });
    const bad = { ...marker, marker: { ...marker.marker, scope: { kind: 'loan', prestamoId: 'p1', absentKeys: 'g1' } } };
    expect(() => fromEnvelope(bad)).toThrow(/marker.scope.absentKeys must be a list/);
    const empty = { ...marker, marker: { ...marker.marker, scope: { kind: 'loan', prestamoId: 'p1', absentKeys: [''] } } };
    expect(() => fromEnvelope(empty)).toThrow(ValidationError);
  });
});
