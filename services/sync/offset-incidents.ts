// What the sync does when a partition's offsets are not the ones its group applied
// (offset-tracker.ts finds them, this file acts on them):
// - a gap — messages no member of the group applied are gone (retention): once the record, read again
//   under its lock, confirms that nobody applied them meanwhile, the table is re-synced by snapshot;
// - a restart — the offsets begin again below those the group applied (topic deleted and recreated,
//   broker data loss): the record restarts at the batch, which is then applied whole, and the table is
//   re-synced (what the old topic held unapplied is gone).
// Both are said loudly: the log (error), the metrics, and the last 20 of each in the sync's status —
// recorded once their transaction has committed, so a retried transaction reports once.
import type { Logger } from '../runtime/logger.ts';
import type { Metrics } from '../runtime/metrics.ts';
import type { OffsetGapReport, OffsetRestartReport } from '../domain/component-status.ts';
import type { CapturedTable } from '../domain/change-event.ts';
import type { IncomingBatch } from '../domain/ports.ts';
import type { Applier } from './applier.ts';
import type { SnapshotMarkers } from './snapshot-markers.ts';
import { remainingGap, type OffsetGap, type OffsetRestart } from './offset-tracker.ts';
import { lockAppliedOffsets, restartAppliedOffsets } from './offset-store.ts';

/** How many gaps and restarts the status keeps (the newest). */
export const INCIDENTS_KEPT = 20;

export interface OffsetIncidentsOptions {
  applier: Pick<Applier, 'transaction'>;
  markers: Pick<SnapshotMarkers, 'resyncTable'>;
  groupId: string;
  /** topic → table, to know which table to re-sync */
  topicTables: Map<string, CapturedTable>;
  logger: Logger;
  metrics: Metrics;
}

export class OffsetIncidents {
  private readonly options: OffsetIncidentsOptions;
  private readonly gapReports: OffsetGapReport[] = [];
  private readonly restartReports: OffsetRestartReport[] = [];

  constructor(options: OffsetIncidentsOptions) {
    this.options = options;
  }

  get gaps(): OffsetGapReport[] {
    return [...this.gapReports];
  }

  get restarts(): OffsetRestartReport[] {
    return [...this.restartReports];
  }

  /** Messages before the batch that nobody applied are gone: re-sync the table, unless applied meanwhile. */
  async gap(batch: Pick<IncomingBatch, 'topic' | 'partition'>, gap: OffsetGap): Promise<void> {
    const { topic, partition } = batch;
    const table = this.options.topicTables.get(topic);
    const open = await this.options.applier.transaction(async (client) => {
      const now = await lockAppliedOffsets(client, this.options.groupId, topic, partition);
      const still = remainingGap(gap, now);
      if (!still) return null;
      const lost = still.toOffset - still.fromOffset + 1n;
      if (table) await this.options.markers.resyncTable(client, table, `offset gap on ${topic}[${partition}] offsets ${still.fromOffset}..${still.toOffset} (${lost} messages never applied${still.newGroup ? '; a new consumer group on a topic retention had trimmed' : ''})`);
      return still;
    });
    if (!open) {
      this.options.logger.info({ topic, partition }, 'offsets before this batch were applied by another member of the group meanwhile: no gap');
      return;
    }
    const lost = open.toOffset - open.fromOffset + 1n;
    const range = { fromOffset: open.fromOffset.toString(), toOffset: open.toOffset.toString() };
    this.options.metrics.offsetGaps.inc({ topic });
    this.options.metrics.gapMessagesLost.inc({ topic }, Number(lost));
    keep(this.gapReports, { topic, partition, ...range, newGroup: open.newGroup, at: new Date().toISOString() });
    const why = open.newGroup
      ? `the consumer group ${this.options.groupId} never applied from this partition, whose oldest messages retention removed`
      : 'messages were removed from Kafka before any member of the group applied them';
    this.options.logger.error(
      { topic, partition, ...range, lostMessages: lost.toString(), newGroup: open.newGroup, resync: table ?? null },
      `offset gap: ${why}; re-syncing the table by snapshot`,
    );
  }

  /** The partition's offsets restarted below the applied ones: restart the record there and re-sync the table. */
  async restart(batch: Pick<IncomingBatch, 'topic' | 'partition'>, restart: OffsetRestart): Promise<void> {
    const { topic, partition } = batch;
    const table = this.options.topicTables.get(topic);
    const fields = { topic, partition, recordedNext: restart.recordedNext.toString(), restartAt: restart.restartAt.toString(), reason: restart.reason };
    this.options.logger.error(
      { ...fields, resync: table ?? null },
      'offsets restarted below those the group applied: the topic was recreated or the broker lost data; applying it from here and re-syncing the table by snapshot',
    );
    await this.options.applier.transaction(async (client) => {
      await lockAppliedOffsets(client, this.options.groupId, topic, partition);
      await restartAppliedOffsets(client, this.options.groupId, topic, partition, restart.restartAt);
      if (table) await this.options.markers.resyncTable(client, table, `offsets of ${topic}[${partition}] restarted at ${restart.restartAt} below the applied ${restart.recordedNext} (topic recreated or broker data loss): ${restart.reason}`);
    });
    this.options.metrics.offsetRestarts.inc({ topic });
    keep(this.restartReports, { ...fields, at: new Date().toISOString() });
  }
}

function keep<T>(list: T[], item: T): void {
  list.push(item);
  if (list.length > INCIDENTS_KEPT) list.shift();
}
