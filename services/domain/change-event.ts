// Change events: what the capture publishes and the sync applies, as a tagged union. Rows travel as
// column → value maps of PostgreSQL text semantics (money as decimal strings, timestamps as ISO text,
// booleans and small integers as JSON booleans and numbers). The envelope on the wire (Debezium-like
// JSON or Avro) is the codec's business; this is the in-process shape.

export const CAPTURED_TABLES = ['Prestamo', 'PagoPrestamo', 'Accion', 'Multa'] as const;
export type CapturedTable = (typeof CAPTURED_TABLES)[number];

export function isCapturedTable(name: string): name is CapturedTable {
  return (CAPTURED_TABLES as readonly string[]).includes(name);
}

export type ColumnValue = string | number | boolean | null;
export type RawRow = Record<string, ColumnValue>;

/** Where a streamed change comes from: its transaction's commit, and its order inside it. */
export interface StreamPosition {
  /** commit LSN of the transaction */
  lsn: string;
  /** 1-based order of the change inside its transaction */
  seq: number;
  /** 64-bit transaction id (decimal text) */
  xid: string;
  /** commit time, ISO 8601 */
  commitTime: string;
}

/** Where a snapshot row comes from: the read it belongs to and the watermark it was emitted at. */
export interface SnapshotPosition {
  /** LSN of the high watermark the chunk was emitted at (orders snapshot reads among themselves) */
  lsn: string;
  /** pg_snapshot of the read ("xmin:xmax:xip,…") */
  snapshot: string;
  chunkId: string;
  requestId: string;
  /** when the rows were read, ISO 8601 */
  readTime: string;
}

/**
 * Which keys a snapshot chunk covers, so that rows absent from it can be recognised as deleted. A key
 * range covers identities: a key of the range absent from the chunk did not exist. A loan covers
 * membership, and a payment not under the loan may exist under another one: so a loan chunk lists the
 * payments it found gone (`absentKeys`, read at the chunk's snapshot), and only those are removed.
 */
export type ChunkScope =
  | { kind: 'range'; afterKey: string | null; throughKey: string | null }
  | { kind: 'loan'; prestamoId: string; absentKeys: string[] };

export type ChangeEvent =
  | {
      kind: 'change';
      table: CapturedTable;
      op: 'c' | 'u' | 'd';
      key: string;
      /** the new row (null for a delete) */
      after: RawRow | null;
      /** columns whose (TOASTed) value did not change and was not sent: keep what is held */
      unchangedToast: string[];
      position: StreamPosition;
    }
  | { kind: 'snapshot'; table: CapturedTable; key: string; after: RawRow; position: SnapshotPosition }
  | { kind: 'truncate'; table: CapturedTable; position: StreamPosition }
  | {
      kind: 'chunk-end';
      table: CapturedTable;
      scope: ChunkScope;
      /** keys read in the chunk (rows of the scope absent here did not exist in the snapshot) */
      keys: string[];
      /** how many markers of this chunk exist (one per partition of the table's topic) */
      markers: number;
      /** which of them this is (= the partition it is sent to); marker 0 removes rows absent from the chunk */
      markerIndex: number;
      position: SnapshotPosition;
    }
  /**
   * A heartbeat written through the slot. In Kafka mode it is sent to every partition of every table
   * topic: a consumer that applied it has applied everything its partition carried before it.
   */
  | { kind: 'heartbeat'; position: StreamPosition };

export type ChangeEventKind = ChangeEvent['kind'];

/** Debezium op letter of an event, for metrics and the wire format. */
export function opOf(event: ChangeEvent): string {
  switch (event.kind) {
    case 'change':
      return event.op;
    case 'snapshot':
      return 'r';
    case 'truncate':
      return 't';
    case 'chunk-end':
      return 'chunk-end';
    case 'heartbeat':
      return 'heartbeat';
  }
}

/** The source time of an event (commit or read time), for lag measurement. */
export function sourceTimeOf(event: ChangeEvent): string {
  return 'commitTime' in event.position ? event.position.commitTime : event.position.readTime;
}
