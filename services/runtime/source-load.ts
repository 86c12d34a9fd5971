// The source's load (SOURCE_LOAD_QUERY), sampled for the whole process: the snapshotter and the sync
// of one process ask the same sampler, so the query runs at most once per interval however many ask,
// and both decide on the same value (also the prestamos_cdc_source_load gauge). A failing query gives
// null — neither part throttles on it — with one warning per run of failures.
import type pg from 'pg';
import type { Logger } from './logger.ts';
import type { Metrics } from './metrics.ts';
import { errorMessage } from './errors.ts';
import { measureSourceLoad } from './control-plane.ts';

export class SourceLoadSampler {
  private readonly o: { pool: pg.Pool; query: string; intervalMs: number; logger: Logger; metrics: Metrics };
  private last: { at: number; value: number | null } | null = null;
  private measuring: Promise<number | null> | null = null;
  private failing = false;

  constructor(options: { pool: pg.Pool; query: string; intervalMs?: number; logger: Logger; metrics: Metrics }) {
    this.o = { intervalMs: 1000, ...options };
  }

  /** The value measured within the last interval, or a new measurement. */
  async current(): Promise<number | null> {
    if (this.last && Date.now() - this.last.at < this.o.intervalMs) return this.last.value;
    this.measuring ??= this.measure().finally(() => (this.measuring = null));
    return this.measuring;
  }

  private async measure(): Promise<number | null> {
    let value: number | null = null;
    try {
      value = await measureSourceLoad(this.o.pool, this.o.query);
      this.failing = false;
      this.o.metrics.sourceLoad.set(value);
    } catch (err) {
      if (!this.failing) this.o.logger.warn({ err: errorMessage(err) }, 'source-load query failed; not throttling on it');
      this.failing = true;
    }
    this.last = { at: Date.now(), value };
    return value;
  }
}
