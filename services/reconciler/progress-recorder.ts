// Samples of the migration's course for the report's charts: every SAMPLE_SECONDS (at most the
// verification interval) the reconciler records rows migrated per table, end-to-end lag and the
// changes applied so far by the running syncs (throughput is the difference between two samples) in
// prestamos_cdc.progress_samples. Samples older than RETAIN_DAYS are removed as new ones arrive. With
// several reconcilers, each samples (the charts take them in time order; throughput uses the delta of
// consecutive samples and ignores a drop).
import type pg from 'pg';
import type { Logger } from '../runtime/logger.ts';
import { errorMessage } from '../runtime/errors.ts';
import { progress, RateSampler } from './progress.ts';
import { readLiveState } from './live-state.ts';

export const SAMPLE_SECONDS = 15;
const RETAIN_DAYS = 30;

export interface ProgressSample {
  at: string;
  migrated: Record<string, number>;
  totals: Record<string, number>;
  lagSeconds: number | null;
  eventsApplied: number;
}

export class ProgressRecorder {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private stopped = false;
  private readonly sampler = new RateSampler();

  private readonly options: { pool: pg.Pool; logger: Logger; everySeconds: number; errorRateThreshold: number };

  constructor(options: { pool: pg.Pool; logger: Logger; everySeconds: number; errorRateThreshold: number }) {
    this.options = options;
  }

  start(): void {
    this.schedule(0);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    await this.running;
  }

  private schedule(delayMs: number): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.running = this.record()
        .catch((err) => this.options.logger.debug({ err: errorMessage(err) }, 'progress sample not recorded'))
        .finally(() => {
          this.running = undefined;
          this.schedule(this.options.everySeconds * 1000);
        });
    }, delayMs);
    this.timer.unref();
  }

  /** One sample now (nothing before the migration objects exist). */
  async record(): Promise<void> {
    const exists = await this.options.pool.query<{ ok: boolean }>(`SELECT to_regclass('prestamos_cdc.progress_samples') IS NOT NULL AS ok`);
    if (!exists.rows[0]!.ok) return;
    const p = await progress({ pool: this.options.pool, sampler: this.sampler, errorRateThreshold: this.options.errorRateThreshold });
    const migrated = Object.fromEntries(p.tables.map((t) => [t.table, t.migrated]));
    const totals = Object.fromEntries(p.tables.map((t) => [t.table, t.total]));
    const applied = (await readLiveState(this.options.pool)).syncs.reduce((a, s) => a + s.status.applied, 0);
    await this.options.pool.query(
      `WITH ins AS (INSERT INTO prestamos_cdc.progress_samples (migrated, totals, lag_seconds, events_applied) VALUES ($1::jsonb, $2::jsonb, $3, $4) RETURNING 1)
       DELETE FROM prestamos_cdc.progress_samples WHERE sampled_at < now() - make_interval(days => $5)`,
      [JSON.stringify(migrated), JSON.stringify(totals), p.lag.seconds, Math.trunc(applied), RETAIN_DAYS],
    );
  }
}

/** The samples of the run, oldest first, thinned to at most `max` points evenly spread. */
export async function readProgressSamples(db: Pick<pg.Pool, 'query'>, max = 500): Promise<ProgressSample[]> {
  const r = await db.query<{ at_ms: string; migrated: Record<string, number>; totals: Record<string, number>; lag_seconds: number | null; events_applied: string }>(
    `SELECT (extract(epoch FROM sampled_at) * 1000)::bigint::text AS at_ms, migrated, totals, lag_seconds, events_applied::text FROM (
        SELECT s.*, row_number() OVER (ORDER BY sampled_at) AS n, count(*) OVER () AS total FROM prestamos_cdc.progress_samples s) x
      WHERE total <= $1 OR (n - 1) % ceil(total::numeric / $1)::bigint = 0 OR n = total
      ORDER BY sampled_at`,
    [max],
  );
  return r.rows.map((x) => ({ at: new Date(Number(x.at_ms)).toISOString(), migrated: x.migrated, totals: x.totals, lagSeconds: x.lag_seconds, eventsApplied: Number(x.events_applied) }));
}
