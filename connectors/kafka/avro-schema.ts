// Avro schema of the change-event envelope of one topic, from the columns of its rows. Every column is
// optional (["null", T], default null) so that a column added to a legacy table is a backward-compatible
// new version; money and timestamps are strings (exact decimal and ISO text), booleans and 32-bit
// integers keep their Avro types.
import type { Envelope } from './envelope.ts';
import type { RawRow } from '../../services/domain/change-event.ts';

const AVRO_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

export type AvroColumnType = 'string' | 'int' | 'long' | 'boolean';

const INT32_MIN = -(2 ** 31);
const INT32_MAX = 2 ** 31 - 1;

/** A row value that the topic's current Avro schema cannot carry without loss. */
export class UnencodableValueError extends Error {
  readonly column: string;
  constructor(column: string, message: string) {
    super(message);
    this.name = 'UnencodableValueError';
    this.column = column;
  }
}

/**
 * The value a column of type `type` carries for `v`, or the wider type the column must evolve to
 * (Avro promotes int to long, so that evolution is backward compatible), or an error when neither
 * works without loss. A column whose type changed on the source (int4 → int8 arrives as exact text)
 * reaches here with a value of another JS type.
 */
export function fitValue(column: string, type: AvroColumnType, v: unknown): { value: unknown } | { widenTo: 'long' } {
  if (v === null || v === undefined) return { value: null };
  switch (type) {
    case 'string':
      return { value: typeof v === 'string' ? v : String(v) };
    case 'boolean':
      if (typeof v === 'boolean') return { value: v };
      throw new UnencodableValueError(column, `column ${column} is boolean in the topic's Avro schema but the row has ${JSON.stringify(v)}`);
    case 'int':
    case 'long': {
      const n = typeof v === 'number' ? v : typeof v === 'string' && /^-?\d{1,20}$/.test(v) ? Number(v) : NaN;
      if (!Number.isSafeInteger(n) || (typeof v === 'string' && String(n) !== v.replace(/^(-?)0+(?=\d)/, '$1'))) {
        throw new UnencodableValueError(column, `column ${column} is ${type} in the topic's Avro schema but the row has ${JSON.stringify(v)}, which no Avro integer carries exactly`);
      }
      if (type === 'int' && (n < INT32_MIN || n > INT32_MAX)) return { widenTo: 'long' };
      return { value: n };
    }
  }
}

/**
 * The Avro type of every column the project knows, per table. Money and timestamps are strings (exact
 * decimal and ISO text). A column the application adds later is carried as an optional string.
 */
export const KNOWN_COLUMNS: Record<string, Record<string, AvroColumnType>> = {
  Prestamo: {
    id: 'string', juntaId: 'string', miembroId: 'string', monto: 'string', tasaInteres: 'string', cuotas: 'int',
    estado: 'string', fechaDesembolso: 'string', fechaVencimiento: 'string', observaciones: 'string',
    createdAt: 'string', updatedAt: 'string',
  },
  PagoPrestamo: { id: 'string', prestamoId: 'string', monto: 'string', fecha: 'string', anulado: 'boolean', createdAt: 'string', updatedAt: 'string' },
  Accion: {
    id: 'string', juntaId: 'string', miembroId: 'string', cantidad: 'int', valorUnitario: 'string', fecha: 'string',
    affects_capital: 'boolean', createdAt: 'string', updatedAt: 'string',
  },
  Multa: {
    id: 'string', juntaId: 'string', miembroId: 'string', monto: 'string', motivo: 'string', pagada: 'boolean', fecha: 'string',
    affects_capital: 'boolean', createdAt: 'string', updatedAt: 'string',
  },
};

export function avroNameOk(name: string): boolean {
  return AVRO_NAME.test(name);
}

function namespaceOf(topic: string): string {
  return topic
    .split('.')
    .map((part) => part.replace(/[^A-Za-z0-9_]/g, '_').replace(/^([0-9])/, '_$1'))
    .join('.');
}

export function avroSchemaFor(topic: string, columns: { name: string; type: AvroColumnType }[]) {
  for (const c of columns) if (!avroNameOk(c.name)) throw new Error(`column ${JSON.stringify(c.name)} is not a valid Avro field name`);
  const row = {
    type: 'record',
    name: 'Value',
    fields: columns.map((c) => ({ name: c.name, type: ['null', c.type], default: null })),
  };
  return {
    type: 'record',
    name: 'Envelope',
    namespace: namespaceOf(topic),
    fields: [
      { name: 'op', type: 'string' },
      { name: 'before', type: ['null', row], default: null },
      { name: 'after', type: ['null', 'Value'], default: null },
      { name: 'unchanged_toast', type: { type: 'array', items: 'string' }, default: [] },
      {
        name: 'source',
        type: {
          type: 'record',
          name: 'Source',
          fields: [
            { name: 'version', type: 'int' },
            { name: 'connector', type: 'string' },
            { name: 'name', type: 'string' },
            { name: 'schema', type: 'string' },
            { name: 'table', type: 'string' },
            { name: 'lsn', type: 'string' },
            { name: 'seq', type: 'int' },
            { name: 'txId', type: ['null', 'string'], default: null },
            { name: 'ts_ms', type: 'long' },
            { name: 'ts', type: 'string' },
            { name: 'snapshot', type: 'string' },
            { name: 'pg_snapshot', type: ['null', 'string'], default: null },
            { name: 'chunk_id', type: ['null', 'string'], default: null },
            { name: 'request_id', type: ['null', 'string'], default: null },
          ],
        },
      },
      { name: 'marker', type: ['null', 'string'], default: null },
      { name: 'ts_ms', type: 'long' },
    ],
  };
}

function rowRecord(row: RawRow | null, columns: { name: string; type: AvroColumnType }[]): Record<string, unknown> | null {
  if (!row) return null;
  const out: Record<string, unknown> = {};
  for (const c of columns) {
    const fitted = fitValue(c.name, c.type, row[c.name] ?? null);
    if ('widenTo' in fitted) throw new UnencodableValueError(c.name, `column ${c.name} must be widened to ${fitted.widenTo} first`);
    out[c.name] = fitted.value;
  }
  return out;
}

/** Columns that must change type (int → long) for the rows of an envelope to fit. */
export function columnsToWiden(envelope: Envelope, columns: { name: string; type: AvroColumnType }[]): string[] {
  const out = new Set<string>();
  for (const row of [envelope.before, envelope.after]) {
    if (!row) continue;
    for (const c of columns) {
      const fitted = fitValue(c.name, c.type, row[c.name] ?? null);
      if ('widenTo' in fitted) out.add(c.name);
    }
  }
  return [...out];
}

export function toAvroRecord(envelope: Envelope, columns: { name: string; type: AvroColumnType }[]): Record<string, unknown> {
  return {
    op: envelope.op,
    before: rowRecord(envelope.before, columns),
    after: rowRecord(envelope.after, columns),
    unchanged_toast: envelope.unchanged_toast,
    source: envelope.source,
    marker: envelope.marker ? JSON.stringify(envelope.marker) : null,
    ts_ms: envelope.ts_ms,
  };
}

/** Back to the envelope shape: nulls of a key-only `before` dropped, unchanged TOAST columns removed. */
export function fromAvroRecord(record: unknown): unknown {
  if (typeof record !== 'object' || record === null) return record;
  const r = record as Record<string, unknown>;
  const unchanged = Array.isArray(r.unchanged_toast) ? (r.unchanged_toast as string[]) : [];
  const plain = (row: unknown, dropNulls: boolean): unknown => {
    if (typeof row !== 'object' || row === null) return row;
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(row)) {
      if (unchanged.includes(k)) continue;
      if (dropNulls && v === null) continue;
      out[k] = v;
    }
    return out;
  };
  let marker: unknown = null;
  if (typeof r.marker === 'string') {
    try {
      marker = JSON.parse(r.marker);
    } catch {
      marker = r.marker;
    }
  }
  return { ...r, before: plain(r.before, true), after: plain(r.after, false), marker };
}
