// The state the processes share through the database: operator control (pause/resume and why), the
// pipeline's run record, snapshot requests, and each running component's liveness and status.
// Capture, sync and reconciler may run in different processes; this is how they see each other.
import { setTimeout as sleep } from 'node:timers/promises';
import type { CapturedTable } from '../domain/change-event.ts';
import { COMPONENT_FRESH_SECONDS, parseComponentReport, type ComponentReport, type ComponentStatusWrite, type SyncReport } from '../domain/component-status.ts';
import type { Queryable } from './queryable.ts';
import { loanRequestsWaiting } from './snapshot-requests.ts';


export interface ControlState {
  paused: boolean;
  reason: string | null;
  changedBy: string | null;
  changedAt: string;
}

export async function readControl(db: Queryable): Promise<ControlState> {
  const r = await db.query<{ paused: boolean; reason: string | null; changed_by: string | null; changed_at: string }>(
    `SELECT paused, reason, changed_by, changed_at::text FROM prestamos_cdc.control WHERE id = 1`,
  );
  const row = r.rows[0];
  if (!row) return { paused: false, reason: null, changedBy: null, changedAt: new Date(0).toISOString() };
  return { paused: row.paused, reason: row.reason, changedBy: row.changed_by, changedAt: row.changed_at };
}

/** Sets the shared pause flag; returns the state as stored (read back). */
export async function setPaused(db: Queryable, paused: boolean, reason: string | null, changedBy: string): Promise<ControlState> {
  await db.query(
    `INSERT INTO prestamos_cdc.control (id, paused, reason, changed_by, changed_at) VALUES (1, $1, $2, $3, now())
     ON CONFLICT (id) DO UPDATE SET paused = $1, reason = $2, changed_by = $3, changed_at = now()`,
    [paused, reason, changedBy],
  );
  return readControl(db);
}

export interface PipelineRecord {
  name: string;
  slotName: string;
  publication: string;
  topicPrefix: string;
  startedBy: string | null;
  startedAt: string | null;
  readsFrom: 'legacy' | 'new';
  readsSwitchedAt: string | null;
}

export async function readPipeline(db: Queryable, name = 'main'): Promise<PipelineRecord | null> {
  const r = await db.query(
    `SELECT name, slot_name, publication, topic_prefix, started_by, started_at::text, reads_from, reads_switched_at::text
       FROM prestamos_cdc.pipeline WHERE name = $1`,
    [name],
  );
  const x = r.rows[0];
  if (!x) return null;
  return {
    name: x.name,
    slotName: x.slot_name,
    publication: x.publication,
    topicPrefix: x.topic_prefix,
    startedBy: x.started_by,
    startedAt: x.started_at,
    readsFrom: x.reads_from,
    readsSwitchedAt: x.reads_switched_at,
  };
}

export async function reportComponent(db: Queryable, instance: string, report: ComponentStatusWrite): Promise<void> {
  await db.query(
    `INSERT INTO prestamos_cdc.components (component, instance, status, last_seen) VALUES ($1, $2, $3::jsonb, now())
     ON CONFLICT (component, instance) DO UPDATE SET status = EXCLUDED.status, last_seen = now()`,
    [report.component, instance, JSON.stringify(report.status)],
  );
}

export async function removeComponent(db: Queryable, component: ComponentStatusWrite['component'], instance: string): Promise<void> {
  await db.query(`DELETE FROM prestamos_cdc.components WHERE component = $1 AND instance = $2`, [component, instance]);
}

/** Components that reported within COMPONENT_FRESH_SECONDS, their status parsed by its schema. */
export async function readComponents(db: Queryable): Promise<ComponentReport[]> {
  const r = await db.query(
    `SELECT component, instance, started_at::text, last_seen::text, extract(epoch FROM now() - last_seen)::float8 AS age, status
       FROM prestamos_cdc.components WHERE last_seen > now() - make_interval(secs => $1) ORDER BY component, instance`,
    [COMPONENT_FRESH_SECONDS],
  );
  return r.rows
    .map((x) => parseComponentReport({ component: x.component, instance: x.instance, startedAt: x.started_at, lastSeen: x.last_seen, ageSeconds: Number(x.age), status: x.status }))
    .filter((c): c is ComponentReport => c !== null);
}

/** The running syncs' reports. */
export async function readSyncs(db: Queryable): Promise<SyncReport[]> {
  return (await readComponents(db)).filter((c): c is SyncReport => c.component === 'sync');
}

/** Writes a heartbeat row through the slot (it keeps the slot advancing and measures lag); its time. */
export async function writeHeartbeat(db: Queryable): Promise<string> {
  const r = await db.query<{ at: string }>(
    `UPDATE prestamos_cdc.heartbeat SET seq = seq + 1, beat_at = clock_timestamp() WHERE id = 1 RETURNING beat_at::text AS at`,
  );
  if (!r.rows[0]) throw new Error('prestamos_cdc.heartbeat has no row: the migration objects are not installed');
  return r.rows[0].at;
}

/**
 * The commit time up to which every change has been applied by the running syncs, or null when it is
 * not known (no sync runs, or one has not yet applied a heartbeat on every partition it owns). Kafka
 * mode: the oldest heartbeat applied over every partition of the syncs' consumer group (heartbeats are
 * sent to every partition, in order with the changes). Inline: the sync's own report.
 */
export async function appliedThrough(db: Queryable): Promise<string | null> {
  const syncs = await readSyncs(db);
  if (syncs.length === 0) return null;
  const groups = [...new Set(syncs.map((s) => s.status.groupId).filter((g): g is string => g !== null))];
  if (groups.length > 0) {
    const r = await db.query<{ at: string | null }>(
      `SELECT CASE WHEN count(*) = 0 OR bool_or(heartbeat_at IS NULL) THEN NULL ELSE min(heartbeat_at)::text END AS at
         FROM prestamos_cdc.consumer_offsets WHERE consumer_group = ANY($1::text[])`,
      [groups],
    );
    return r.rows[0]?.at ?? null;
  }
  const times = syncs.map((s) => s.status.lastHeartbeatAt);
  if (times.some((t) => t === null)) return null;
  const r = await db.query<{ at: string }>(`SELECT min(t)::text AS at FROM unnest($1::timestamptz[]) AS t`, [times]);
  return r.rows[0]!.at;
}

/**
 * Writes a heartbeat now and waits until the running syncs have applied everything committed before it.
 * Returns false on timeout (or when no sync runs).
 */
export async function waitUntilApplied(db: Queryable, timeoutMs: number, intervalMs = 150): Promise<boolean> {
  const target = await writeHeartbeat(db).catch(() => null);
  if (!target) return false;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const through = await appliedThrough(db);
    if (through !== null) {
      const r = await db.query<{ ok: boolean }>(`SELECT $1::timestamptz >= $2::timestamptz AS ok`, [through, target]);
      if (r.rows[0]!.ok) break;
    }
    if (Date.now() > deadline) return false;
    await sleep(intervalMs);
  }
  // A change the stream could not carry whole (a loan update whose TOASTed notes were not sent) is
  // applied by a one-loan re-sync the sync requested when it met the change: those requested by now
  // are part of "everything committed before the heartbeat".
  const caughtUpAt = (await db.query<{ at: string }>(`SELECT now()::text AS at`)).rows[0]!.at;
  for (;;) {
    if ((await loanRequestsWaiting(db, caughtUpAt)) === 0) return true;
    if (Date.now() > deadline) return false;
    await sleep(intervalMs);
  }
}
