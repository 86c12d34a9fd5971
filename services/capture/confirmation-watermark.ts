// The confirmation watermark: which position the capture may confirm to the slot. The buffer holds the
// events with each transaction's commit boundary after its changes; one batch is published at a time,
// so once a batch is acknowledged every event before it is too, and the last boundary the batch
// contains may be confirmed. When the stream is idle (no transaction open, nothing buffered or in
// flight) a keepalive's position may be confirmed, at most once a second unless the server asks for a
// reply; a requested reply is always sent. The confirmed position only moves forward. Pure: the
// caller acknowledges to the server.
import type { ChangeEvent } from '../domain/change-event.ts';
import { parseLsn } from '../domain/lsn.ts';
import type { Decoded } from './change-decoder.ts';

/** How often an idle stream confirms a keepalive's position when the server does not ask for a reply. */
export const KEEPALIVE_CONFIRM_INTERVAL_MS = 1000;

/** The next batch cut from the front of the buffer. */
export interface CutBatch {
  /** up to the batch size of events, in order */
  events: ChangeEvent[];
  /** how many items of the buffer (events and boundaries) the batch takes */
  taken: number;
  /** the last commit boundary among them: confirmable once the batch is acknowledged (null: none) */
  confirmAt: string | null;
}

/**
 * Cuts the next batch: events up to `maxEvents`, with the boundaries between them and those right
 * after the last one (a transaction whose last change is in the batch ends with it).
 */
export function cutBatch(pending: readonly Decoded[], maxEvents: number): CutBatch {
  const events: ChangeEvent[] = [];
  let confirmAt: string | null = null;
  let i = 0;
  for (; i < pending.length; i++) {
    const item = pending[i]!;
    if ('boundary' in item) {
      confirmAt = item.boundary;
      continue;
    }
    if (events.length >= maxEvents) break;
    events.push(item);
  }
  return { events, taken: i, confirmAt };
}

/** What to send the server for a keepalive. */
export interface KeepaliveReply {
  /** a new position to confirm (everything before it is durable downstream) */
  confirm: string | null;
  /** the position already confirmed, sent again because the server asked for a reply */
  repeat: string | null;
}

export class ConfirmationWatermark {
  private confirmedLsn: string | null = null;
  private lastKeepaliveConfirm = 0;

  /** The position last confirmed to the slot (null: none on this run). */
  get confirmed(): string | null {
    return this.confirmedLsn;
  }

  /** Whether `lsn` is past the confirmed position (only then is it sent). */
  advances(lsn: string): boolean {
    return this.confirmedLsn === null || parseLsn(lsn) > parseLsn(this.confirmedLsn);
  }

  /** The slot acknowledged `lsn`. */
  confirmedAt(lsn: string): void {
    if (this.advances(lsn)) this.confirmedLsn = lsn;
  }

  /**
   * A keepalive at `walEnd`. `idle`: no transaction open, nothing buffered or in flight. A requested
   * reply is always sent, even when the position has not moved: the server ends a connection that
   * leaves it unanswered for wal_sender_timeout, and a fast shutdown waits for it.
   */
  keepalive(walEnd: string, shouldRespond: boolean, idle: boolean, now: number): KeepaliveReply {
    let confirm: string | null = null;
    if (idle && (now - this.lastKeepaliveConfirm > KEEPALIVE_CONFIRM_INTERVAL_MS || shouldRespond)) {
      this.lastKeepaliveConfirm = now;
      confirm = walEnd;
    }
    const moves = idle && this.confirmedLsn !== null && parseLsn(walEnd) > parseLsn(this.confirmedLsn);
    const repeat = shouldRespond && this.confirmedLsn !== null && !moves ? this.confirmedLsn : null;
    return { confirm, repeat };
  }
}
