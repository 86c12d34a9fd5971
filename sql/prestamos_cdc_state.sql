-- The project's own state, in its own schema so that it never mixes with the application's tables.
-- Idempotent. None of these statements touches a legacy table.
-- lock_timeout: 2s unless the session already chose one (the migrator sets LOCK_TIMEOUT_MS).
SELECT set_config('lock_timeout', '2s', false) WHERE current_setting('lock_timeout') = '0';

CREATE SCHEMA IF NOT EXISTS prestamos_cdc;

-- Version guard of every captured legacy row: the newest source version applied (commit LSN, order
-- inside the transaction, transaction id) or, for a snapshot row, the snapshot it was read under and
-- its high watermark. Deleted rows keep their state as tombstones so that a replayed older insert
-- cannot bring them back. For Accion and Multa, which have no shadow table, it also holds what the row
-- is worth to its junta.
CREATE TABLE IF NOT EXISTS prestamos_cdc.row_state (
  source_table text NOT NULL CHECK (source_table IN ('Prestamo', 'PagoPrestamo', 'Accion', 'Multa')),
  row_id       text NOT NULL,
  lsn          pg_lsn,
  seq          integer,
  xid          xid8,
  snapshot     pg_snapshot,
  deleted      boolean NOT NULL DEFAULT false,
  junta_id     text,
  worth        numeric(14,2),
  updated_at   timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (source_table, row_id)
);

-- Kafka offsets applied, written in the same transaction as the rows they carried: the truth for
-- redelivery and for noticing a gap (offsets that retention removed before they were applied).
CREATE TABLE IF NOT EXISTS prestamos_cdc.consumer_offsets (
  consumer_group text NOT NULL,
  topic          text NOT NULL,
  partition      integer NOT NULL,
  next_offset    bigint NOT NULL,
  -- commit time of the newest heartbeat applied from this partition: every change the partition
  -- carried before it has been applied (the capture sends heartbeats to every partition)
  heartbeat_at   timestamptz,
  updated_at     timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (consumer_group, topic, partition)
);

-- Messages that could not be applied (also sent to the dead-letter topic when Kafka is used).
CREATE TABLE IF NOT EXISTS prestamos_cdc.failed_records (
  id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  source_table   text,
  row_id         text,
  topic          text,
  partition      integer,
  kafka_offset   bigint,
  message_key    text,
  payload        bytea,
  error          text NOT NULL,
  error_code     text NOT NULL,
  status         text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'resolved')),
  created_at     timestamptz NOT NULL DEFAULT now(),
  resolved_at    timestamptz,
  resolution     text
);
CREATE INDEX IF NOT EXISTS failed_records_open_idx ON prestamos_cdc.failed_records(status, source_table) WHERE status = 'open';
CREATE UNIQUE INDEX IF NOT EXISTS failed_records_message_idx
  ON prestamos_cdc.failed_records(topic, partition, kafka_offset) WHERE kafka_offset IS NOT NULL;

-- Snapshot requests (first load, a table re-sync after a gap, one loan on demand) and their chunks.
CREATE TABLE IF NOT EXISTS prestamos_cdc.snapshot_requests (
  id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  scope        text NOT NULL CHECK (scope IN ('tables', 'loan')),
  tables       text[] NOT NULL,
  target_id    text,
  reason       text NOT NULL,
  requested_by text NOT NULL,
  status       text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'running', 'emitted', 'applied', 'failed', 'cancelled')),
  cursor       jsonb NOT NULL DEFAULT '{}'::jsonb,
  rows_emitted bigint NOT NULL DEFAULT 0,
  error        text,
  created_at   timestamptz NOT NULL DEFAULT now(),
  started_at   timestamptz,
  emitted_at   timestamptz,
  applied_at   timestamptz
);
CREATE INDEX IF NOT EXISTS snapshot_requests_status_idx ON prestamos_cdc.snapshot_requests(status, id);

CREATE TABLE IF NOT EXISTS prestamos_cdc.snapshot_chunks (
  id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  request_id      bigint NOT NULL REFERENCES prestamos_cdc.snapshot_requests(id) ON DELETE CASCADE,
  source_table    text NOT NULL,
  snapshot        pg_snapshot NOT NULL,
  high_lsn        pg_lsn,
  first_key       text,
  last_key        text,
  row_count       integer NOT NULL,
  markers_expected integer NOT NULL DEFAULT 0,
  markers_applied  integer NOT NULL DEFAULT 0,
  read_at         timestamptz NOT NULL DEFAULT now(),
  emitted_at      timestamptz,
  applied_at      timestamptz
);
CREATE INDEX IF NOT EXISTS snapshot_chunks_request_idx ON prestamos_cdc.snapshot_chunks(request_id);
CREATE INDEX IF NOT EXISTS snapshot_chunks_unapplied_idx ON prestamos_cdc.snapshot_chunks(id) WHERE applied_at IS NULL;

-- Which (topic, partition) markers of a chunk have been applied: a chunk is complete when all have.
CREATE TABLE IF NOT EXISTS prestamos_cdc.snapshot_chunk_markers (
  chunk_id   bigint NOT NULL REFERENCES prestamos_cdc.snapshot_chunks(id) ON DELETE CASCADE,
  topic      text NOT NULL,
  partition  integer NOT NULL,
  applied_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (chunk_id, topic, partition)
);

-- The signal table is in the publication: a row written here travels through the replication stream
-- and marks a position in it (the high watermark of a snapshot chunk, a re-sync request).
CREATE TABLE IF NOT EXISTS prestamos_cdc.signal (
  id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  kind       text NOT NULL,
  payload    jsonb NOT NULL DEFAULT '{}'::jsonb,
  created_at timestamptz NOT NULL DEFAULT now()
);

-- One row, updated by the capture every few seconds: keeps the slot advancing when the captured tables
-- are idle and measures end-to-end lag.
CREATE TABLE IF NOT EXISTS prestamos_cdc.heartbeat (
  id      integer PRIMARY KEY DEFAULT 1 CHECK (id = 1),
  beat_at timestamptz NOT NULL DEFAULT now(),
  seq     bigint NOT NULL DEFAULT 0
);
INSERT INTO prestamos_cdc.heartbeat (id) VALUES (1) ON CONFLICT (id) DO NOTHING;

-- Operator control shared by every process: pause/resume of the apply, and why.
CREATE TABLE IF NOT EXISTS prestamos_cdc.control (
  id         integer PRIMARY KEY DEFAULT 1 CHECK (id = 1),
  paused     boolean NOT NULL DEFAULT false,
  reason     text,
  changed_by text,
  changed_at timestamptz NOT NULL DEFAULT now()
);
INSERT INTO prestamos_cdc.control (id) VALUES (1) ON CONFLICT (id) DO NOTHING;

-- The migration run: names of the slot and publication it created, its phase, and the read routing.
CREATE TABLE IF NOT EXISTS prestamos_cdc.pipeline (
  name            text PRIMARY KEY,
  slot_name       text NOT NULL,
  publication     text NOT NULL,
  topic_prefix    text NOT NULL,
  phase           text NOT NULL DEFAULT 'created',
  started_by      text,
  started_at      timestamptz,
  reads_from      text NOT NULL DEFAULT 'legacy' CHECK (reads_from IN ('legacy', 'new')),
  reads_switched_at timestamptz,
  updated_at      timestamptz NOT NULL DEFAULT now()
);

-- Liveness and progress reported by each running process (capture, sync, reconciler).
CREATE TABLE IF NOT EXISTS prestamos_cdc.components (
  component   text NOT NULL,
  instance    text NOT NULL,
  started_at  timestamptz NOT NULL DEFAULT now(),
  last_seen   timestamptz NOT NULL DEFAULT now(),
  status      jsonb NOT NULL DEFAULT '{}'::jsonb,
  PRIMARY KEY (component, instance)
);

-- Loans rolled back by an operator: the stream leaves them (and their payments) alone until they are
-- migrated again through POST /prestamos/migration/single/:id.
CREATE TABLE IF NOT EXISTS prestamos_cdc.rolled_back_loans (
  prestamo_id    text PRIMARY KEY,
  rolled_back_at timestamptz NOT NULL DEFAULT now(),
  rolled_back_by text NOT NULL,
  request_id     text
);

-- Bearer tokens: only a SHA-256 hash is stored.
CREATE TABLE IF NOT EXISTS prestamos_cdc.api_tokens (
  id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  name         text NOT NULL,
  role         text NOT NULL CHECK (role IN ('admin', 'operator', 'viewer')),
  token_hash   text NOT NULL UNIQUE,
  created_at   timestamptz NOT NULL DEFAULT now(),
  revoked_at   timestamptz,
  last_used_at timestamptz
);

-- Audit of every mutating call, append-only like the ledger.
CREATE TABLE IF NOT EXISTS prestamos_cdc.audit_log (
  id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  at         timestamptz NOT NULL DEFAULT now(),
  actor      text NOT NULL,
  role       text,
  action     text NOT NULL,
  params     jsonb NOT NULL DEFAULT '{}'::jsonb,
  outcome    text NOT NULL,
  status     integer,
  request_id text NOT NULL
);

CREATE OR REPLACE FUNCTION prestamos_cdc.audit_log_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'prestamos_cdc.audit_log is append-only: % is not allowed', TG_OP
    USING ERRCODE = 'insufficient_privilege';
END $$;
CREATE OR REPLACE TRIGGER trg_audit_log_no_update
  BEFORE UPDATE OR DELETE ON prestamos_cdc.audit_log
  FOR EACH ROW EXECUTE FUNCTION prestamos_cdc.audit_log_append_only();
CREATE OR REPLACE TRIGGER trg_audit_log_no_truncate
  BEFORE TRUNCATE ON prestamos_cdc.audit_log
  FOR EACH STATEMENT EXECUTE FUNCTION prestamos_cdc.audit_log_append_only();
