// The heartbeat writer: every `intervalMs`, while the capture streams, it updates the heartbeat row
// (prestamos_cdc.heartbeat) so that a change comes through the slot even when the captured tables are
// idle — the slot keeps advancing, and the heartbeat event's commit time, once applied, measures the
// end-to-end lag. After each beat `afterBeat` runs (the capture refreshes its xid horizon there). A
// failed beat is logged and the next interval tries again.
import type pg from 'pg';
import type { Logger } from '../runtime/logger.ts';
import { errorMessage } from '../runtime/errors.ts';
import { writeHeartbeat } from '../runtime/control-plane.ts';

export interface HeartbeatWriterOptions {
  pool: pg.Pool;
  intervalMs: number;
  logger: Logger;
  /** whether to beat now (the capture streams) */
  active(): boolean;
  afterBeat(): Promise<void>;
}

export class HeartbeatWriter {
  private readonly options: HeartbeatWriterOptions;
  private timer: NodeJS.Timeout | undefined;

  constructor(options: HeartbeatWriterOptions) {
    this.options = options;
  }

  start(): void {
    this.timer ??= setInterval(() => void this.beat(), this.options.intervalMs);
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  private async beat(): Promise<void> {
    if (!this.options.active()) return;
    try {
      await writeHeartbeat(this.options.pool);
      await this.options.afterBeat();
    } catch (err) {
      this.options.logger.warn({ err: errorMessage(err) }, 'heartbeat write failed');
    }
  }
}
