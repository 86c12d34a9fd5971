// The source's load (SOURCE_LOAD_QUERY), sampled for the whole process: the process's control loop
// (services/runtime/control-loop.ts) asks it once a tick and hands the value to the snapshotter and the
// sync, so both decide on the same value (also the prestamos_cdc_source_load gauge); the query runs at
// most once per interval however many ask. A failing query gives null — neither part throttles on it —
// with one warning per run of failures.
import type pg from 'pg';
import type { Logger } from '../../services/runtime/logger.ts';
import type { Metrics } from '../../services/runtime/metrics.ts';
import { errorMessage } from '../../services/runtime/errors.ts';
import { inTransaction } from './transaction.ts';

/** The configured source-load query's value (SOURCE_LOAD_QUERY), read only and bounded by a statement timeout. */
export async function measureSourceLoad(pool: pg.Pool, query: string): Promise<number> {
  const r = await inTransaction(pool, async (client) => {
    await client.query('SET LOCAL statement_timeout = 5000');
    return client.query({ text: query, rowMode: 'array' });
  }, 'BEGIN READ ONLY');
  const v = Number((r.rows[0] as unknown[] | undefined)?.[0]);
  if (!Number.isFinite(v)) throw new Error('SOURCE_LOAD_QUERY must return one number');
  return v;
}

export class SourceLoadSampler {
  private readonly options: { pool: pg.Pool; query: string; intervalMs: number; logger: Logger; metrics: Metrics };
  private last: { at: number; value: number | null } | null = null;
  private measuring: Promise<number | null> | null = null;
  private failing = false;

  constructor(options: { pool: pg.Pool; query: string; intervalMs?: number; logger: Logger; metrics: Metrics }) {
    this.options = { intervalMs: 1000, ...options };
  }

  /** The value measured within the last interval, or a new measurement. */
  async current(): Promise<number | null> {
    if (this.last && Date.now() - this.last.at < this.options.intervalMs) return this.last.value;
    this.measuring ??= this.measure().finally(() => (this.measuring = null));
    return this.measuring;
  }

  private async measure(): Promise<number | null> {
    let value: number | null = null;
    try {
      const measured = await measureSourceLoad(this.options.pool, this.options.query);
      value = measured;
      this.failing = false;
      this.options.metrics.sourceLoad.set(measured);
    } catch (err) {
      if (!this.failing) this.options.logger.warn({ err: errorMessage(err) }, 'source-load query failed; not throttling on it');
      this.failing = true;
    }
    this.last = { at: Date.now(), value };
    return value;
  }
}
