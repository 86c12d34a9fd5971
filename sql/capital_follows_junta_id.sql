-- Junta capital follows a change of the junta's id (applied after add_capital_tracking.sql, which is
-- recorded with its checksum and so is never edited: this file replaces update_junta_capital()).
--
-- The application references "Junta".id ON UPDATE CASCADE. When a junta's id changes, the stream
-- carries the cascaded updates of its loans, shares and fines, and the ledger reverses each row's
-- worth under the old id and enters it under the new one. The Junta row is the same row under its new
-- id: its capital columns already hold the old id's movements, so adding the new id's movements to
-- them counted everything twice, while the reversals under the old id found no row to move.
--
-- capital_junta_id records the id whose movements the capital columns were computed from. When the
-- trigger finds it different from the row's id (the id changed since, or the columns were never
-- computed by this version: NULL), it recomputes that junta's columns from the whole ledger —
-- base_capital + ΣIN − ΣOUT under the row's id, as calculate_available_capital() does — and records the
-- id; otherwise it moves them by the net of the transaction's movements, as before. Movements of an id
-- that has no Junta row (the old id) move nothing; they net to zero once the reversals are in.
SELECT set_config('lock_timeout', '2s', false) WHERE current_setting('lock_timeout') = '0';

-- 1. The column (metadata-only ADD COLUMN: nullable, no default).
BEGIN;
DO $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM information_schema.columns
                  WHERE table_schema = current_schema() AND table_name = 'Junta' AND column_name = 'capital_junta_id') THEN
    ALTER TABLE "Junta" ADD COLUMN IF NOT EXISTS capital_junta_id text;
  END IF;
END $$;
COMMIT;

-- 2. The trigger function: same locking (juntas touched by the transaction, in id order, at commit).
CREATE OR REPLACE FUNCTION update_junta_capital() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
  applied_upto bigint := COALESCE(NULLIF(current_setting('prestamos_cdc.capital_applied_upto', true), ''), '0')::bigint;
  newest bigint;
BEGIN
  -- The first deferred event of the transaction applies all of its movements; the rest find them done.
  IF NEW.id <= applied_upto THEN
    RETURN NULL;
  END IF;
  IF current_setting('lock_timeout') = '0' THEN
    PERFORM set_config('lock_timeout', '1s', true);
  END IF;
  PERFORM 1 FROM "Junta" j
    WHERE j.id IN (SELECT DISTINCT m.junta_id FROM capital_movements m
                    WHERE m.txid = pg_current_xact_id() AND m.id > applied_upto)
    ORDER BY j.id
    FOR NO KEY UPDATE;
  -- Columns computed for this id: moved by the net of this transaction's movements.
  UPDATE "Junta" j
     SET available_capital = j.available_capital + d.net_all,
         current_capital   = j.current_capital + d.net_capital
    FROM (SELECT m.junta_id,
                 sum(CASE m.direction WHEN 'IN' THEN m.amount ELSE -m.amount END) AS net_all,
                 sum(CASE WHEN m.type IN ('ACCION', 'MULTA')
                          THEN CASE m.direction WHEN 'IN' THEN m.amount ELSE -m.amount END
                          ELSE 0 END) AS net_capital
            FROM capital_movements m
           WHERE m.txid = pg_current_xact_id() AND m.id > applied_upto
           GROUP BY m.junta_id) d
   WHERE j.id = d.junta_id AND j.capital_junta_id = j.id;
  -- Columns computed for another id (the junta's id changed) or never by this version: recomputed
  -- from the whole ledger under the row's id (committed movements and this transaction's own; the
  -- lock above makes every concurrent writer of this junta apply its own net after this commit).
  UPDATE "Junta" j
     SET available_capital = j.base_capital + t.net_all,
         current_capital   = j.base_capital + t.net_capital,
         capital_junta_id  = j.id
    FROM (SELECT touched.junta_id,
                 coalesce(sum(CASE m.direction WHEN 'IN' THEN m.amount ELSE -m.amount END), 0) AS net_all,
                 coalesce(sum(CASE WHEN m.type IN ('ACCION', 'MULTA')
                                   THEN CASE m.direction WHEN 'IN' THEN m.amount ELSE -m.amount END
                                   ELSE 0 END), 0) AS net_capital
            FROM (SELECT DISTINCT junta_id FROM capital_movements
                   WHERE txid = pg_current_xact_id() AND id > applied_upto) touched
            LEFT JOIN capital_movements m ON m.junta_id = touched.junta_id
           GROUP BY touched.junta_id) t
   WHERE j.id = t.junta_id AND j.capital_junta_id IS DISTINCT FROM j.id;
  SELECT max(m.id) INTO newest FROM capital_movements m
   WHERE m.txid = pg_current_xact_id() AND m.id > applied_upto;
  PERFORM set_config('prestamos_cdc.capital_applied_upto', newest::text, true);
  RETURN NULL;
END $$;
