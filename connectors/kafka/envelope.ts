// The wire envelope of change events: Debezium-like (op, before, after, source with the transaction's
// commit LSN, xid, order inside the transaction and commit time), keyed by primary key, one topic per
// table: <prefix>.public.<Table>. Money travels as decimal strings, timestamps as ISO 8601 text.
// Snapshot-chunk markers (op "m") and heartbeats (op "h") travel the same way. Decoding validates every
// field: a message that fails is a poison message with a clear error, never a half-applied row.
import { ValidationError } from '../../services/runtime/errors.ts';
import { isCapturedTable, type ChangeEvent, type ChunkScope, type RawRow, type StreamPosition, type SnapshotPosition } from '../../services/domain/change-event.ts';
import { isLsn } from '../../services/domain/lsn.ts';
import { isPgSnapshot } from '../../services/domain/visibility.ts';

export const ENVELOPE_VERSION = 1;
export const CONNECTOR = 'prestamos-cdc';

export interface EnvelopeSource {
  version: number;
  connector: string;
  name: string;
  schema: string;
  table: string;
  /** commit LSN (changes) or high-watermark LSN (snapshot rows and markers) */
  lsn: string;
  seq: number;
  txId: string | null;
  ts_ms: number;
  /** ISO commit time (changes) or read time (snapshot) */
  ts: string;
  snapshot: 'true' | 'false';
  pg_snapshot: string | null;
  chunk_id: string | null;
  request_id: string | null;
}

export interface Envelope {
  op: 'c' | 'u' | 'd' | 'r' | 't' | 'm' | 'h';
  before: RawRow | null;
  after: RawRow | null;
  unchanged_toast: string[];
  source: EnvelopeSource;
  marker: { scope: ChunkScope; keys: string[]; markers: number; marker_index: number } | null;
  ts_ms: number;
}

export function topicFor(prefix: string, table: string): string {
  return `${prefix}.public.${table}`;
}

export function deadLetterTopic(prefix: string): string {
  return `${prefix}.prestamos_cdc.dlq`;
}

export function toEnvelope(event: ChangeEvent, prefix: string): Envelope {
  const now = Date.now();
  const streamSource = (table: string, p: StreamPosition): EnvelopeSource => ({
    version: ENVELOPE_VERSION,
    connector: CONNECTOR,
    name: prefix,
    schema: 'public',
    table,
    lsn: p.lsn,
    seq: p.seq,
    txId: p.xid,
    ts_ms: Date.parse(p.commitTime),
    ts: p.commitTime,
    snapshot: 'false',
    pg_snapshot: null,
    chunk_id: null,
    request_id: null,
  });
  const snapshotSource = (table: string, p: SnapshotPosition): EnvelopeSource => ({
    version: ENVELOPE_VERSION,
    connector: CONNECTOR,
    name: prefix,
    schema: 'public',
    table,
    lsn: p.lsn,
    seq: 0,
    txId: null,
    ts_ms: Date.parse(p.readTime),
    ts: p.readTime,
    snapshot: 'true',
    pg_snapshot: p.snapshot,
    chunk_id: p.chunkId,
    request_id: p.requestId,
  });
  switch (event.kind) {
    case 'change':
      return {
        op: event.op,
        before: event.op === 'c' ? null : { id: event.key },
        after: event.after,
        unchanged_toast: event.unchangedToast,
        source: streamSource(event.table, event.position),
        marker: null,
        ts_ms: now,
      };
    case 'snapshot':
      return { op: 'r', before: null, after: event.after, unchanged_toast: [], source: snapshotSource(event.table, event.position), marker: null, ts_ms: now };
    case 'truncate':
      return { op: 't', before: null, after: null, unchanged_toast: [], source: streamSource(event.table, event.position), marker: null, ts_ms: now };
    case 'chunk-end':
      return {
        op: 'm',
        before: null,
        after: null,
        unchanged_toast: [],
        source: snapshotSource(event.table, event.position),
        marker: { scope: event.scope, keys: event.keys, markers: event.markers, marker_index: event.markerIndex },
        ts_ms: now,
      };
    case 'heartbeat':
      return { op: 'h', before: null, after: null, unchanged_toast: [], source: streamSource('heartbeat', event.position), marker: null, ts_ms: now };
  }
}

// ---- validation of what comes back -----------------------------------------------------------------

function fail(message: string): never {
  throw new ValidationError(`invalid change event: ${message}`, 'invalid_envelope');
}
const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?Z$/;
const DIGITS = /^\d{1,20}$/;
const MAX_KEY = 1000;

function str(v: unknown, what: string, max = 10_000): string {
  if (typeof v !== 'string' || v.length > max) fail(`${what} must be a string of at most ${max} characters`);
  return v;
}
function key(v: unknown, what: string): string {
  const s = str(v, what, MAX_KEY);
  if (s.length === 0) fail(`${what} must not be empty`);
  return s;
}

function row(v: unknown, what: string): RawRow {
  if (!isObject(v)) fail(`${what} must be an object`);
  const out: RawRow = {};
  for (const [k, value] of Object.entries(v)) {
    if (value !== null && typeof value !== 'string' && typeof value !== 'number' && typeof value !== 'boolean') fail(`${what}.${k} must be a string, number, boolean or null`);
    if (typeof value === 'number' && !Number.isFinite(value)) fail(`${what}.${k} must be finite`);
    out[k] = value;
  }
  return out;
}

function scope(v: unknown): ChunkScope {
  if (!isObject(v)) fail('marker.scope must be an object');
  if (v.kind === 'range') {
    return {
      kind: 'range',
      afterKey: v.afterKey === null ? null : key(v.afterKey, 'marker.scope.afterKey'),
      throughKey: v.throughKey === null ? null : key(v.throughKey, 'marker.scope.throughKey'),
    };
  }
  if (v.kind === 'loan') {
    // a marker written before absentKeys existed removes nothing (removing by absence was the defect)
    const absent = v.absentKeys ?? [];
    if (!Array.isArray(absent)) fail('marker.scope.absentKeys must be a list');
    return { kind: 'loan', prestamoId: key(v.prestamoId, 'marker.scope.prestamoId'), absentKeys: absent.map((k, i) => key(k, `marker.scope.absentKeys[${i}]`)) };
  }
  return fail('marker.scope.kind must be "range" or "loan"');
}

/** Validates a decoded envelope (JSON or Avro) and turns it back into a change event. */
export function fromEnvelope(value: unknown): ChangeEvent {
  if (!isObject(value)) fail('not an object');
  const op = value.op;
  const source = value.source;
  if (!isObject(source)) fail('source must be an object');
  const lsn = str(source.lsn, 'source.lsn', 20);
  if (!isLsn(lsn)) fail('source.lsn must be an LSN like 0/16B3748');
  const ts = str(source.ts, 'source.ts', 40);
  if (!ISO.test(ts)) fail('source.ts must be an ISO 8601 UTC timestamp');
  const table = str(source.table, 'source.table', 100);
  const streamPosition = (): StreamPosition => {
    const seq = source.seq;
    if (typeof seq !== 'number' || !Number.isInteger(seq) || seq < 0 || seq > 2 ** 31) fail('source.seq must be a non-negative integer');
    const xid = str(source.txId, 'source.txId', 20);
    if (!DIGITS.test(xid)) fail('source.txId must be a 64-bit transaction id');
    return { lsn, seq, xid, commitTime: ts };
  };
  const snapshotPosition = (): SnapshotPosition => {
    const snap = str(source.pg_snapshot, 'source.pg_snapshot', 1_000_000);
    if (!isPgSnapshot(snap)) fail('source.pg_snapshot must be a pg_snapshot "xmin:xmax:xip,…"');
    const chunkId = str(source.chunk_id, 'source.chunk_id', 20);
    const requestId = str(source.request_id, 'source.request_id', 20);
    if (!DIGITS.test(chunkId) || !DIGITS.test(requestId)) fail('source.chunk_id and source.request_id must be numeric ids');
    return { lsn, snapshot: snap, chunkId, requestId, readTime: ts };
  };
  if (op === 'h') return { kind: 'heartbeat', position: streamPosition() };
  if (!isCapturedTable(table)) fail(`source.table ${JSON.stringify(table.slice(0, 100))} is not a captured table`);
  switch (op) {
    case 'c':
    case 'u':
    case 'd': {
      const unchanged = value.unchanged_toast ?? [];
      if (!Array.isArray(unchanged) || unchanged.some((c) => typeof c !== 'string')) fail('unchanged_toast must be a list of column names');
      const after = op === 'd' ? null : row(value.after, 'after');
      const before = value.before === null || value.before === undefined ? null : row(value.before, 'before');
      const k = op === 'd' ? before?.id : after?.id;
      return { kind: 'change', table, op, key: key(k, op === 'd' ? 'before.id' : 'after.id'), after, unchangedToast: unchanged as string[], position: streamPosition() };
    }
    case 'r': {
      const after = row(value.after, 'after');
      return { kind: 'snapshot', table, key: key(after.id, 'after.id'), after, position: snapshotPosition() };
    }
    case 't':
      return { kind: 'truncate', table, position: streamPosition() };
    case 'm': {
      const m = value.marker;
      if (!isObject(m)) fail('marker must be an object');
      if (!Array.isArray(m.keys)) fail('marker.keys must be a list');
      const keys = m.keys.map((k, i) => key(k, `marker.keys[${i}]`));
      const markers = m.markers;
      const index = m.marker_index;
      if (typeof markers !== 'number' || !Number.isInteger(markers) || markers < 1 || markers > 10_000) fail('marker.markers must be a positive integer');
      if (typeof index !== 'number' || !Number.isInteger(index) || index < 0 || index >= markers) fail('marker.marker_index must be in [0, markers)');
      return { kind: 'chunk-end', table, scope: scope(m.scope), keys, markers, markerIndex: index, position: snapshotPosition() };
    }
    default:
      return fail(`op ${JSON.stringify(op)} is not one of c, u, d, r, t, m, h`);
  }
}

/** The Kafka key of an event: the primary key, as a small JSON object (Debezium's key struct). */
export function keyOf(event: ChangeEvent): string | null {
  return event.kind === 'change' || event.kind === 'snapshot' ? JSON.stringify({ id: event.key }) : null;
}
