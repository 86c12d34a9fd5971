-- One phase of the migration: the one the reconciler derives where it reports it
-- (services/reconciler/progress.ts: not started, snapshotting, streaming, cut over — from the
-- pipeline record, the snapshot requests and the read routing). The stored copy was written at the
-- start ('snapshotting') and at a switch of reads only, so between them it said 'snapshotting' long
-- after the first load had ended, and nothing read it. Dropped.
ALTER TABLE prestamos_cdc.pipeline DROP COLUMN IF EXISTS phase;
