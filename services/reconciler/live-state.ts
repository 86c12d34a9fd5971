// What the running pipeline says about itself, as the reconciler sees it: every capture and sync
// process reports its status to prestamos_cdc.components (sync every second, capture every two), so
// this works whether they run in this process or elsewhere. Lag is the sync's end-to-end lag (which
// grows while heartbeats stop arriving); "unknown" when no sync is alive.
import type pg from 'pg';
import { readComponents, waitUntilApplied } from '../runtime/control-plane.ts';
import type { CaptureReport, ComponentReport, SyncReport } from '../domain/component-status.ts';
import type { LocalPipeline } from '../runtime/local-pipeline.ts';
import type { Queryable } from '../runtime/queryable.ts';


export interface LiveState {
  syncs: SyncReport[];
  captures: CaptureReport[];
  /** max end-to-end lag of the running syncs, seconds; null when none runs */
  lagSeconds: number | null;
  /** max error ratio of the running syncs over their window; null when none runs */
  errorRatio: number | null;
  /** a capture is streaming: snapshot requests will be processed */
  captureStreaming: boolean;
}

export async function readLiveState(db: Queryable, pipeline?: LocalPipeline): Promise<LiveState> {
  let components: ComponentReport[] = [];
  try {
    components = await readComponents(db);
  } catch (err) {
    // before the state schema exists there is nothing running
    if ((err as { code?: string }).code !== '42P01') throw err;
  }
  const syncs = components.filter((c): c is SyncReport => c.component === 'sync');
  const captures = components.filter((c): c is CaptureReport => c.component === 'capture');
  const lags = syncs.map((s) => s.status.lagSeconds);
  const ratios = syncs.map((s) => s.status.errorRatio);
  const localStreaming = pipeline?.capture?.getStatus().state === 'streaming';
  return {
    syncs,
    captures,
    lagSeconds: lags.length ? Math.max(...lags) : null,
    errorRatio: ratios.length ? Math.max(...ratios) : null,
    captureStreaming: localStreaming || captures.some((c) => c.status.state === 'streaming'),
  };
}

/**
 * Waits until every running sync has applied everything committed before this call (a heartbeat is
 * written now; see appliedThrough). Returns false when no sync runs or the wait times out.
 */
export async function waitForSyncCatchUp(pool: pg.Pool, timeoutMs: number): Promise<boolean> {
  return waitUntilApplied(pool, timeoutMs);
}
