// The logical replication stream of one slot, decoded from pgoutput by pg-logical-replication, as
// typed messages with normalised column values. Explicit acknowledgement only (the library's
// per-message auto-acknowledgement is off): the caller confirms a position once what came before it
// is durable. Flow control: pause() stops reading the socket, so a transaction of any size is held in
// memory only as far as the caller lets it accumulate.
import { LogicalReplicationService, PgoutputPlugin } from 'pg-logical-replication';
import type { Pgoutput } from 'pg-logical-replication';
import type { Logger } from '../../services/runtime/logger.ts';
import type { RawRow } from '../../services/domain/change-event.ts';
import { normalizePgText } from './pg-text.ts';
import { parseLsn, formatLsn } from '../../services/domain/lsn.ts';

export interface RelationInfo {
  oid: number;
  schema: string;
  name: string;
  columns: { name: string; typeOid: number; isKey: boolean }[];
  keyColumns: string[];
}

export type StreamMessage =
  | { tag: 'begin'; xid: number; commitLsn: string; commitTime: Date }
  | { tag: 'relation'; relation: RelationInfo }
  | { tag: 'insert'; relation: RelationInfo; row: RawRow }
  | { tag: 'update'; relation: RelationInfo; row: RawRow; unchangedToast: string[]; oldKey: RawRow | null }
  | { tag: 'delete'; relation: RelationInfo; key: RawRow }
  | { tag: 'truncate'; relations: RelationInfo[] }
  | { tag: 'commit'; commitLsn: string; commitEndLsn: string; commitTime: Date }
  | { tag: 'other' };

export interface ReplicationStreamOptions {
  connectionString: string;
  slotName: string;
  publicationName: string;
  logger: Logger;
  applicationName?: string;
}

/** pgoutput parser that leaves every value as its raw text (typed by the caller per type OID). */
class RawTextPgoutputPlugin extends PgoutputPlugin {
  override parse(buffer: Buffer): Pgoutput.Message {
    const msg = super.parse(buffer);
    if (msg.tag === 'relation') for (const c of msg.columns) c.parser = (raw: unknown) => raw;
    return msg;
  }
}

function microsToDate(t: unknown): Date {
  // the library gives commit times as BigInt microseconds since the Unix epoch
  return new Date(Number(BigInt(t as bigint) / 1000n));
}

export class ReplicationStream {
  private readonly service: LogicalReplicationService;
  private readonly relations = new Map<number, RelationInfo>();
  private paused = false;
  private stopped = false;
  private running: Promise<unknown> | undefined;
  private readonly options: ReplicationStreamOptions;

  constructor(options: ReplicationStreamOptions) {
    this.options = options;
    this.service = new LogicalReplicationService(
      {
        connectionString: options.connectionString,
        application_name: options.applicationName ?? 'prestamos-cdc capture',
        // text values of timestamptz in UTC
        options: '-c TimeZone=UTC -c DateStyle=ISO',
      } as never,
      { acknowledge: { auto: false, timeoutSeconds: 0 }, flowControl: { enabled: false } },
    );
  }

  /**
   * Starts streaming from the slot's confirmed position. `onMessage` is called synchronously, in
   * WAL order; `onKeepalive` with the server's WAL position when it has nothing else to send.
   * Resolves when the replication connection ends (stop() or an error, which rejects).
   */
  start(handlers: {
    onMessage: (msg: StreamMessage) => void;
    onKeepalive: (walEnd: string, shouldRespond: boolean) => void;
    onStarted?: () => void;
  }): Promise<void> {
    this.service.on('data', (_lsn: string, raw: Pgoutput.Message) => handlers.onMessage(this.decode(raw)));
    this.service.on('heartbeat', (lsn: string, _ts: number, shouldRespond: boolean) => handlers.onKeepalive(lsn, shouldRespond));
    this.service.on('start', () => handlers.onStarted?.());
    const plugin = new RawTextPgoutputPlugin({ protoVersion: 1, publicationNames: [this.options.publicationName] });
    let onError: (err: Error) => void = () => undefined;
    const failed = new Promise<never>((_, reject) => {
      onError = (err) => reject(err);
    });
    this.service.on('error', (err: Error) => onError(err));
    this.running = Promise.race([this.service.subscribe(plugin, this.options.slotName), failed]);
    return this.running.then(() => undefined);
  }

  private decode(raw: Pgoutput.Message): StreamMessage {
    switch (raw.tag) {
      case 'begin':
        return { tag: 'begin', xid: raw.xid, commitLsn: raw.commitLsn ?? '0/0', commitTime: microsToDate(raw.commitTime) };
      case 'commit':
        return { tag: 'commit', commitLsn: raw.commitLsn ?? '0/0', commitEndLsn: raw.commitEndLsn ?? '0/0', commitTime: microsToDate(raw.commitTime) };
      case 'relation': {
        const relation: RelationInfo = {
          oid: raw.relationOid,
          schema: raw.schema,
          name: raw.name,
          columns: raw.columns.map((c) => ({ name: c.name, typeOid: c.typeOid, isKey: (c.flags & 1) === 1 })),
          keyColumns: raw.keyColumns,
        };
        this.relations.set(relation.oid, relation);
        return { tag: 'relation', relation };
      }
      case 'insert': {
        const relation = this.relationOf(raw.relation.relationOid);
        return { tag: 'insert', relation, row: this.row(relation, raw.new, []) };
      }
      case 'update': {
        const relation = this.relationOf(raw.relation.relationOid);
        const unchangedToast: string[] = [];
        const row = this.row(relation, raw.new, unchangedToast);
        const oldKey = raw.key ? this.row(relation, raw.key, []) : raw.old ? this.row(relation, raw.old, []) : null;
        return { tag: 'update', relation, row, unchangedToast, oldKey };
      }
      case 'delete': {
        const relation = this.relationOf(raw.relation.relationOid);
        return { tag: 'delete', relation, key: this.row(relation, (raw.key ?? raw.old) as Record<string, unknown>, []) };
      }
      case 'truncate':
        return { tag: 'truncate', relations: raw.relations.map((r) => this.relationOf(r.relationOid)) };
      default:
        return { tag: 'other' };
    }
  }

  private relationOf(oid: number): RelationInfo {
    const r = this.relations.get(oid);
    if (!r) throw new Error(`pgoutput sent a row of relation ${oid} before describing it`);
    return r;
  }

  /**
   * A tuple as column values. pgoutput marks an unchanged TOASTed value with 'u'; the library then
   * leaves the column undefined (distinct from null): report it as unchanged, never as null.
   */
  private row(relation: RelationInfo, tuple: Record<string, unknown>, unchangedToast: string[]): RawRow {
    const out: RawRow = {};
    for (const c of relation.columns) {
      const v = tuple[c.name];
      if (v === undefined) {
        if (c.name in tuple) unchangedToast.push(c.name);
        continue;
      }
      out[c.name] = normalizePgText(c.typeOid, v as string | null);
    }
    return out;
  }

  pause(): void {
    if (this.paused) return;
    this.paused = true;
    this.socket()?.pause();
  }

  resume(): void {
    if (!this.paused) return;
    this.paused = false;
    this.socket()?.resume();
  }

  isPaused(): boolean {
    return this.paused;
  }

  private socket(): { pause(): void; resume(): void } | undefined {
    return (this.service as unknown as { _connection?: { stream?: { pause(): void; resume(): void } } })._connection?.stream;
  }

  /**
   * Confirms to the server that everything before `lsn` is durable downstream: the standby status
   * update carries exactly `lsn` as written, flushed and applied position, as PostgreSQL's own
   * subscribers send a commit's end LSN. (pg-logical-replication 2.5 sends its argument + 1; a flush
   * position past the server's sent position keeps a logical walsender from ever finishing a fast
   * shutdown, which waits for the two to be equal.)
   */
  async acknowledge(lsn: string): Promise<void> {
    if (this.stopped) return;
    const exact = parseLsn(lsn);
    if (exact === 0n) return;
    await this.service.acknowledge(formatLsn(exact - 1n));
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    await this.service.stop().catch(() => undefined);
    await this.running?.catch(() => undefined);
    this.service.removeAllListeners();
  }
}
