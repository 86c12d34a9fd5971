// Every Prometheus metric the services export, defined in one place (prom-client). Names follow
// Prometheus conventions: snake_case, a `prestamos_cdc_` prefix, `_total` for counters, base units
// (`_seconds`, `_bytes`). docs/OPERATIONS.md lists them; deploy/grafana and deploy/prometheus use them.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { THROTTLE_METRIC_LABELS } from '../domain/throttle.ts';

const LAG_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900];

export function createMetrics(options: { defaultMetrics?: boolean } = {}) {
  const registry = new Registry();
  if (options.defaultMetrics !== false) collectDefaultMetrics({ register: registry, prefix: 'prestamos_cdc_' });
  const r = { registers: [registry] };
  const metrics = {
    registry,
    // --- capture
    slotRetainedWalBytes: new Gauge({ name: 'prestamos_cdc_replication_slot_retained_wal_bytes', help: 'WAL the replication slot keeps on the server (current WAL position minus restart_lsn)', labelNames: ['slot'], ...r }),
    slotUnconfirmedBytes: new Gauge({ name: 'prestamos_cdc_replication_slot_unconfirmed_bytes', help: 'WAL not yet confirmed by the capture (current WAL position minus confirmed_flush_lsn)', labelNames: ['slot'], ...r }),
    slotActive: new Gauge({ name: 'prestamos_cdc_replication_slot_active', help: '1 when a process streams from the slot', labelNames: ['slot'], ...r }),
    sourceToPublishLag: new Histogram({ name: 'prestamos_cdc_source_to_publish_lag_seconds', help: 'Time from a change\'s commit to its acknowledgement by Kafka (or the inline hand-off)', buckets: LAG_BUCKETS, ...r }),
    eventsPublished: new Counter({ name: 'prestamos_cdc_events_published_total', help: 'Change events published, by table and op', labelNames: ['table', 'op'], ...r }),
    captureBufferedEvents: new Gauge({ name: 'prestamos_cdc_capture_buffered_events', help: 'Change events held by the capture, not yet acknowledged downstream', ...r }),
    captureStreamPaused: new Gauge({ name: 'prestamos_cdc_capture_stream_paused', help: '1 while the capture has paused reading the replication stream (backpressure or broker unreachable)', ...r }),
    eventsUnpublishable: new Counter({ name: 'prestamos_cdc_events_unpublishable_total', help: 'Change events Kafka cannot carry (larger than the topic\'s max.message.bytes), recorded as failed records instead, by table and reason', labelNames: ['table', 'reason'], ...r }),
    capturePublishFailures: new Counter({ name: 'prestamos_cdc_capture_publish_failures_total', help: 'Publish attempts that failed and were retried', ...r }),
    confirmedLsn: new Gauge({ name: 'prestamos_cdc_capture_confirmed_lsn_bytes', help: 'Position confirmed to the slot, as a byte offset in the WAL', ...r }),
    capturedTableMissing: new Gauge({ name: 'prestamos_cdc_captured_table_missing', help: '1 while a captured table does not exist under its name or is not in the publication (renamed or dropped): its changes are not captured', labelNames: ['table'], ...r }),
    uncapturedChanges: new Counter({ name: 'prestamos_cdc_uncaptured_changes_total', help: 'Rows streamed for a published relation that is not a captured table (a captured table renamed), not captured', labelNames: ['relation'], ...r }),
    snapshotRows: new Counter({ name: 'prestamos_cdc_snapshot_rows_total', help: 'Rows read by snapshot chunks, by table', labelNames: ['table'], ...r }),
    snapshotProgress: new Gauge({ name: 'prestamos_cdc_snapshot_progress_ratio', help: 'Share of the current snapshot request read, by table (1 when done)', labelNames: ['table'], ...r }),
    snapshotChunksInFlight: new Gauge({ name: 'prestamos_cdc_snapshot_chunks_in_flight', help: 'Snapshot chunks emitted and not yet applied', ...r }),
    // --- sync
    eventsApplied: new Counter({ name: 'prestamos_cdc_events_applied_total', help: 'Change events applied (including those the version guard found already applied), by table and op', labelNames: ['table', 'op'], ...r }),
    eventsSkippedStale: new Counter({ name: 'prestamos_cdc_events_stale_total', help: 'Change events older than what the shadow row holds (redelivery, replay): changed nothing', labelNames: ['table'], ...r }),
    applyErrors: new Counter({ name: 'prestamos_cdc_apply_errors_total', help: 'Messages that could not be applied, by reason', labelNames: ['reason'], ...r }),
    applyAttemptsFailed: new Counter({ name: 'prestamos_cdc_apply_attempts_failed_total', help: 'Apply attempts of a batch that failed other than on a transient database error, by step (dead_letter, rows, truncate, snapshot_marker, batch); after APPLY_MAX_ATTEMPTS at the same position the apply pauses', labelNames: ['step'], ...r }),
    applyRetries: new Counter({ name: 'prestamos_cdc_apply_retries_total', help: 'Apply transactions retried after a transient database error, by SQLSTATE', labelNames: ['code'], ...r }),
    deadLetters: new Counter({ name: 'prestamos_cdc_dead_letter_total', help: 'Messages sent to the dead-letter topic / failed-records table', ...r }),
    failedRecordsOpen: new Gauge({ name: 'prestamos_cdc_failed_records', help: 'Failed records not yet resolved', ...r }),
    endToEndLag: new Histogram({ name: 'prestamos_cdc_end_to_end_lag_seconds', help: 'Time from a change\'s commit on the source to its apply in the new tables', buckets: LAG_BUCKETS, ...r }),
    endToEndLagCurrent: new Gauge({ name: 'prestamos_cdc_end_to_end_lag_current_seconds', help: 'Current end-to-end lag: age of the newest source position not yet applied (heartbeat-based when idle)', ...r }),
    consumerLag: new Gauge({ name: 'prestamos_cdc_consumer_lag_messages', help: 'Messages in the partition not yet applied', labelNames: ['topic', 'partition'], ...r }),
    offsetGaps: new Counter({ name: 'prestamos_cdc_offset_gaps_total', help: 'Times the consumed offsets skipped messages never applied (removed by retention); each starts a table re-sync', labelNames: ['topic'], ...r }),
    gapMessagesLost: new Counter({ name: 'prestamos_cdc_offset_gap_messages_total', help: 'Messages skipped by offset gaps', labelNames: ['topic'], ...r }),
    offsetRestarts: new Counter({ name: 'prestamos_cdc_offset_restarts_total', help: 'Times a partition\'s offsets restarted below those the group applied (topic deleted and recreated, or broker data loss); each starts a table re-sync', labelNames: ['topic'], ...r }),
    applyBatchSeconds: new Histogram({ name: 'prestamos_cdc_apply_batch_duration_seconds', help: 'Duration of one apply transaction', buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5], ...r }),
    applyBatchSize: new Histogram({ name: 'prestamos_cdc_apply_batch_size', help: 'Events per apply transaction', buckets: [1, 10, 50, 100, 250, 500, 1000, 2000, 5000, 10000], ...r }),
    ledgerMovements: new Counter({ name: 'prestamos_cdc_ledger_movements_total', help: 'Capital movements appended, by type and direction', labelNames: ['type', 'direction'], ...r }),
    errorRate: new Gauge({ name: 'prestamos_cdc_apply_error_ratio', help: 'Failed / processed messages over the sliding error-rate window', ...r }),
    // --- control
    paused: new Gauge({ name: 'prestamos_cdc_paused', help: '1 while the apply is paused (by an operator or by the error-rate threshold)', ...r }),
    throttled: new Gauge({ name: 'prestamos_cdc_throttled', help: '1 while throttled, by reason (lag: the snapshot waits for the sync; source_load: the apply waits for the source; snapshot_source_load: the snapshot waits for the source)', labelNames: ['reason'], ...r }),
    sourceLoad: new Gauge({ name: 'prestamos_cdc_source_load', help: 'Value of the configured source-load query', ...r }),
    // --- reconciler
    consistencyRatio: new Gauge({ name: 'prestamos_cdc_consistency_ratio', help: 'Share of rows consistent with the legacy tables, by check', labelNames: ['check'], ...r }),
    juntasWithCapitalDiscrepancy: new Gauge({ name: 'prestamos_cdc_juntas_capital_discrepancy', help: 'Juntas whose capital differs from a recomputation or whose cross-check breaks', ...r }),
    verificationRuns: new Counter({ name: 'prestamos_cdc_verification_runs_total', help: 'Background verification passes, by outcome (ok, failed)', labelNames: ['outcome'], ...r }),
    verificationLastTimestamp: new Gauge({ name: 'prestamos_cdc_verification_last_success_timestamp_seconds', help: 'Unix time of the last verification result (background pass or fresh check); 0 before the first', ...r }),
    verificationDuration: new Gauge({ name: 'prestamos_cdc_verification_duration_seconds', help: 'Duration of the last verification pass', ...r }),
    verificationCoverage: new Gauge({ name: 'prestamos_cdc_verification_coverage_ratio', help: 'Share of the loans covered by the current verification result (1 once every range has been checked)', ...r }),
    repairs: new Counter({ name: 'prestamos_cdc_repairs_total', help: 'Rows re-synced by self-repair (found wrong twice in a row), by kind (loan, share, fine)', labelNames: ['kind'], ...r }),
    repairCandidates: new Gauge({ name: 'prestamos_cdc_repair_candidates', help: 'Rows found wrong twice in a row and not repaired (REPAIR_MODE=off, rate limit, rolled back)', ...r }),
    httpDuration: new Histogram({ name: 'prestamos_cdc_http_request_duration_seconds', help: 'HTTP request durations', labelNames: ['method', 'route', 'status'], buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10], ...r }),
    componentUp: new Gauge({ name: 'prestamos_cdc_component_up', help: '1 for each pipeline component running in this process', labelNames: ['component'], ...r }),
  };
  initialiseKnownSeries(metrics);
  return metrics;
}

/** Tables and ops of the change events (op: c create, u update, d delete, r snapshot read, t truncate). */
const TABLES = ['Prestamo', 'PagoPrestamo', 'Accion', 'Multa'];
const OPS = ['c', 'u', 'd', 'r', 't'];
/** Reasons of prestamos_cdc_apply_errors_total that the sync reports without a SQLSTATE. */
const APPLY_ERROR_REASONS = ['decode_failed', 'undecodable', 'empty_message', 'invalid_envelope', 'key_mismatch', 'invalid_row', 'apply_failed'];
/** SQLSTATEs the apply retries (connectors/postgres/retry.ts), plus a lost connection. */
const RETRIED_CODES = ['40001', '40P01', '55P03', '57P01', '57P02', '57P03', '53300', '08000', '08003', '08006', '08001', '08004', 'connection'];

/**
 * Every series whose labels are known in advance exists from the start, at 0, so that every panel
 * and alert rule has data on a healthy, idle system (a labelled series otherwise appears only at its
 * first event). Series of one role (consistency, repairs, the slot) are created by that role at start.
 */
function initialiseKnownSeries(m: KnownSeries): void {
  for (const table of TABLES) {
    for (const op of OPS) {
      m.eventsPublished.inc({ table, op }, 0);
      m.eventsApplied.inc({ table, op }, 0);
    }
    m.eventsSkippedStale.inc({ table }, 0);
    m.snapshotRows.inc({ table }, 0);
  }
  for (const reason of APPLY_ERROR_REASONS) m.applyErrors.inc({ reason }, 0);
  for (const code of RETRIED_CODES) m.applyRetries.inc({ code }, 0);
  for (const type of ['PRESTAMO', 'PAGO', 'ACCION', 'MULTA']) for (const direction of ['IN', 'OUT']) m.ledgerMovements.inc({ type, direction }, 0);
  for (const reason of THROTTLE_METRIC_LABELS) m.throttled.set({ reason }, 0);
}

export type Metrics = ReturnType<typeof createMetrics>;

/**
 * The series of the parts a process runs, whose labels the configuration fixes (the slot, the
 * topics): at 0 from the start, before the migration starts or the first message arrives. Partition 0
 * of every table topic exists whatever the partition count; the others appear at their first batch.
 */
export function initialiseProcessSeries(m: Metrics, options: { capture: boolean; sync: boolean; slot: string; tableTopics: string[] | undefined }): void {
  if (options.capture) {
    for (const gauge of [m.slotRetainedWalBytes, m.slotUnconfirmedBytes, m.slotActive]) gauge.set({ slot: options.slot }, 0);
    for (const table of TABLES) m.snapshotProgress.set({ table }, 0);
  }
  if (options.sync && options.tableTopics) {
    for (const topic of options.tableTopics) {
      m.consumerLag.set({ topic, partition: '0' }, 0);
      m.offsetGaps.inc({ topic }, 0);
      m.gapMessagesLost.inc({ topic }, 0);
    }
  }
}

type KnownSeries = Pick<Metrics, 'eventsPublished' | 'eventsApplied' | 'eventsSkippedStale' | 'snapshotRows' | 'applyErrors' | 'applyRetries' | 'ledgerMovements' | 'throttled'>;
