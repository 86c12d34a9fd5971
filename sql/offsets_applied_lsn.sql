-- The highest source LSN among the messages applied from each partition: a message below next_offset
-- that carries a newer one was never applied (the topic was recreated; services/sync/offset-tracker.ts).
ALTER TABLE prestamos_cdc.consumer_offsets ADD COLUMN IF NOT EXISTS applied_lsn pg_lsn;
