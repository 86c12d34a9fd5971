// Watches that every captured table is still there and published (see
// connectors/postgres/captured-tables.ts): each problem is a metric per table
// (prestamos_cdc_captured_table_missing, alerted by deploy/prometheus/alerts.yml), an error log line
// naming the table when it starts and an info line when it ends, and part of the capture's status (so
// /readyz and GET /prestamos/migration/progress show it). Rows that arrive for a published relation
// that is not captured (a captured table under its new name) are counted per relation. The stream goes
// on for the other tables.
import type pg from 'pg';
import type { CapturedTableAlert } from '../domain/component-status.ts';
import type { Logger } from '../runtime/logger.ts';
import type { Metrics } from '../runtime/metrics.ts';
import { errorMessage } from '../runtime/errors.ts';
import { CAPTURED_TABLES } from '../domain/change-event.ts';
import { findCapturedTableProblems, describeCapturedTableProblem, type CapturedTableProblem } from '../../connectors/postgres/captured-tables.ts';

export class CapturedTablesWatch {
  private readonly options: { pool: pg.Pool; publication: string; logger: Logger; metrics: Metrics };
  private readonly alerts = new Map<string, CapturedTableAlert>();
  private readonly uncapturedSeen = new Set<string>();

  constructor(options: { pool: pg.Pool; publication: string; logger: Logger; metrics: Metrics }) {
    this.options = options;
    for (const table of CAPTURED_TABLES) options.metrics.capturedTableMissing.set({ table }, 0);
  }

  current(): CapturedTableAlert[] {
    return [...this.alerts.values()];
  }

  async check(): Promise<void> {
    let problems: CapturedTableProblem[];
    try {
      problems = await findCapturedTableProblems(this.options.pool, this.options.publication, CAPTURED_TABLES);
    } catch (err) {
      this.options.logger.warn({ err: errorMessage(err) }, 'captured-table check failed');
      return;
    }
    const now = new Date().toISOString();
    for (const table of CAPTURED_TABLES) {
      const p = problems.find((x) => x.table === table);
      const had = this.alerts.get(table);
      this.options.metrics.capturedTableMissing.set({ table }, p ? 1 : 0);
      if (p) {
        const detail = describeCapturedTableProblem(p);
        if (!had || had.detail !== detail) this.options.logger.error({ table, problem: p.problem, publishedInstead: p.publishedInstead }, detail);
        this.alerts.set(table, { table, problem: p.problem, detail, since: had?.since ?? now });
      } else if (had) {
        this.alerts.delete(table);
        this.options.logger.info({ table }, `captured table public."${table}" is published again`);
      }
    }
  }

  /** A row of a published relation that is not a captured table: counted, and logged once per relation. */
  uncapturedChange(schema: string, name: string): void {
    const relation = `${schema}.${name}`;
    this.options.metrics.uncapturedChanges.inc({ relation });
    if (this.uncapturedSeen.has(relation)) return;
    this.uncapturedSeen.add(relation);
    this.options.logger.error({ relation }, `changes of published relation ${relation}, which is not a captured table (a captured table renamed?), are not captured`);
    void this.check();
  }
}
