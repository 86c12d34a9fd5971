-- Capital tracking and shadow tables (SPEC §2). Idempotent and safe on a busy database:
--  * every statement that needs a lock on a legacy table first checks whether its work is already
--    done, so a second run takes no lock at all;
--  * lock_timeout makes a DDL that cannot get its lock fail fast (SQLSTATE 55P03) instead of queueing
--    every application query behind it; `prestamos-cdc migrate` retries the file with backoff;
--  * each legacy-table change commits on its own (explicit BEGIN/COMMIT, also when the whole file is
--    sent as one multi-statement query), so no lock is held while waiting for the next one.
-- lock_timeout: 2s unless the session already chose one (the migrator sets LOCK_TIMEOUT_MS).
SELECT set_config('lock_timeout', '2s', false) WHERE current_setting('lock_timeout') = '0';

-- 1. Capital columns on "Junta" (metadata-only ADD COLUMN with a constant default).
BEGIN;
DO $$
BEGIN
  IF (SELECT count(*) FROM information_schema.columns
       WHERE table_schema = current_schema() AND table_name = 'Junta'
         AND column_name IN ('current_capital', 'base_capital', 'available_capital')) < 3 THEN
    ALTER TABLE "Junta"
      ADD COLUMN IF NOT EXISTS current_capital   numeric(14,2) NOT NULL DEFAULT 0,
      ADD COLUMN IF NOT EXISTS base_capital      numeric(14,2) NOT NULL DEFAULT 0,
      ADD COLUMN IF NOT EXISTS available_capital numeric(14,2) NOT NULL DEFAULT 0;
  END IF;
END $$;
COMMIT;

BEGIN;
DO $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM information_schema.columns
                  WHERE table_schema = current_schema() AND table_name = 'Accion' AND column_name = 'affects_capital') THEN
    ALTER TABLE "Accion" ADD COLUMN IF NOT EXISTS affects_capital boolean NOT NULL DEFAULT true;
  END IF;
END $$;
COMMIT;

BEGIN;
DO $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM information_schema.columns
                  WHERE table_schema = current_schema() AND table_name = 'Multa' AND column_name = 'affects_capital') THEN
    ALTER TABLE "Multa" ADD COLUMN IF NOT EXISTS affects_capital boolean NOT NULL DEFAULT true;
  END IF;
END $$;
COMMIT;

-- 2. Shadow tables. No foreign keys between them during sync (a payment may arrive before its loan);
--    the reconciler checks relationship integrity. Sync metadata: the source position (commit LSN and
--    transaction id, or the snapshot's high watermark) of the version held, and when it was written.
CREATE TABLE IF NOT EXISTS "PrestamoNew" (
  id                    text PRIMARY KEY,
  junta_id              text NOT NULL,
  member_id             text NOT NULL,
  principal             numeric(12,2) NOT NULL,
  monthly_interest_rate numeric(6,4) NOT NULL,
  installments          integer NOT NULL,
  status                text NOT NULL
    CHECK (status IN ('pending', 'approved', 'disbursed', 'paid', 'overdue', 'cancelled')),
  disbursed_at          timestamptz,
  due_at                timestamptz,
  notes                 text,
  total_paid            numeric(14,2) NOT NULL DEFAULT 0,
  principal_paid        numeric(14,2) NOT NULL DEFAULT 0,
  interest_paid         numeric(14,2) NOT NULL DEFAULT 0,
  outstanding_principal numeric(14,2) NOT NULL DEFAULT 0,
  payments_count        integer NOT NULL DEFAULT 0,
  last_payment_at       timestamptz,
  created_at            timestamptz NOT NULL,
  updated_at            timestamptz NOT NULL,
  source_lsn            pg_lsn NOT NULL,
  source_xid            xid8,
  synced_at             timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS "PrestamoNew_junta_id_idx" ON "PrestamoNew"(junta_id);

CREATE TABLE IF NOT EXISTS "PagoPrestamoNew" (
  id               text PRIMARY KEY,
  prestamo_id      text NOT NULL,
  amount           numeric(12,2) NOT NULL,
  principal_amount numeric(12,2),            -- NULL until the payment's loan has been synced
  interest_amount  numeric(12,2),
  paid_at          timestamptz NOT NULL,
  status           text NOT NULL CHECK (status IN ('registered', 'voided')),
  created_at       timestamptz NOT NULL,
  updated_at       timestamptz NOT NULL,
  source_lsn       pg_lsn NOT NULL,
  source_xid       xid8,
  synced_at        timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS "PagoPrestamoNew_prestamo_id_idx" ON "PagoPrestamoNew"(prestamo_id);

-- 3. The capital ledger: append-only, one row per change of what a legacy row is worth to its junta.
CREATE TABLE IF NOT EXISTS capital_movements (
  id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  junta_id    text NOT NULL,
  type        text NOT NULL CHECK (type IN ('PRESTAMO', 'PAGO', 'ACCION', 'MULTA')),
  direction   text NOT NULL CHECK (direction IN ('IN', 'OUT')),
  amount      numeric(14,2) NOT NULL CHECK (amount > 0),
  description text NOT NULL,
  prestamo_id text,
  pago_id     text,
  accion_id   text,
  multa_id    text,
  source_lsn  pg_lsn,
  created_at  timestamptz NOT NULL DEFAULT now(),
  -- the transaction that appended the movement: update_junta_capital() applies a transaction's own
  -- movements at its commit
  txid        xid8 NOT NULL DEFAULT pg_current_xact_id(),
  CONSTRAINT capital_movements_source_row CHECK (
       (type = 'PRESTAMO' AND prestamo_id IS NOT NULL AND pago_id IS NULL AND accion_id IS NULL AND multa_id IS NULL)
    OR (type = 'PAGO'     AND pago_id IS NOT NULL AND accion_id IS NULL AND multa_id IS NULL)
    OR (type = 'ACCION'   AND accion_id IS NOT NULL AND prestamo_id IS NULL AND pago_id IS NULL AND multa_id IS NULL)
    OR (type = 'MULTA'    AND multa_id IS NOT NULL AND prestamo_id IS NULL AND pago_id IS NULL AND accion_id IS NULL))
);
CREATE INDEX IF NOT EXISTS capital_movements_junta_id_idx ON capital_movements(junta_id);
CREATE INDEX IF NOT EXISTS capital_movements_txid_idx ON capital_movements(txid);
CREATE INDEX IF NOT EXISTS capital_movements_prestamo_id_idx ON capital_movements(prestamo_id) WHERE prestamo_id IS NOT NULL;
CREATE INDEX IF NOT EXISTS capital_movements_pago_id_idx ON capital_movements(pago_id) WHERE pago_id IS NOT NULL;
CREATE INDEX IF NOT EXISTS capital_movements_accion_id_idx ON capital_movements(accion_id) WHERE accion_id IS NOT NULL;
CREATE INDEX IF NOT EXISTS capital_movements_multa_id_idx ON capital_movements(multa_id) WHERE multa_id IS NOT NULL;

-- Append-only in the database itself: corrections are new rows.
CREATE OR REPLACE FUNCTION capital_movements_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'capital_movements is append-only: % is not allowed; append a correcting movement instead', TG_OP
    USING ERRCODE = 'insufficient_privilege';
END $$;

CREATE OR REPLACE TRIGGER trg_capital_movements_no_update
  BEFORE UPDATE OR DELETE ON capital_movements
  FOR EACH ROW EXECUTE FUNCTION capital_movements_append_only();
CREATE OR REPLACE TRIGGER trg_capital_movements_no_truncate
  BEFORE TRUNCATE ON capital_movements
  FOR EACH STATEMENT EXECUTE FUNCTION capital_movements_append_only();

-- 4. Junta capital moved by every inserted movement, once per transaction, at commit.
--    trg_capital_movement_insert is a deferred constraint trigger: when a transaction that appended
--    movements commits, update_junta_capital() locks the juntas it touched in id order and moves them by
--    the net of its movements with a relative UPDATE. Concurrent writers therefore never lose an update,
--    never deadlock with each other (one lock pass per transaction, always in the same order), and hold
--    Junta rows only for the moment of their commit. A local lock_timeout makes the ledger writer, not
--    the application, give way if an application transaction holds a Junta row for long.
--    available_capital = base_capital + ΣIN − ΣOUT; current_capital = base_capital + net ACCION/MULTA.
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
   WHERE j.id = d.junta_id;
  SELECT max(m.id) INTO newest FROM capital_movements m
   WHERE m.txid = pg_current_xact_id() AND m.id > applied_upto;
  PERFORM set_config('prestamos_cdc.capital_applied_upto', newest::text, true);
  RETURN NULL;
END $$;

DO $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_trigger
                  WHERE tgname = 'trg_capital_movement_insert' AND tgrelid = 'capital_movements'::regclass) THEN
    CREATE CONSTRAINT TRIGGER trg_capital_movement_insert
      AFTER INSERT ON capital_movements
      DEFERRABLE INITIALLY DEFERRED
      FOR EACH ROW EXECUTE FUNCTION update_junta_capital();
  END IF;
END $$;

-- 5. Recompute from scratch: base_capital + ΣIN − ΣOUT over every movement of the junta.
CREATE OR REPLACE FUNCTION calculate_available_capital(p_junta_id TEXT) RETURNS numeric
LANGUAGE sql STABLE AS $$
  SELECT COALESCE((SELECT j.base_capital FROM "Junta" j WHERE j.id = p_junta_id), 0)
       + COALESCE((SELECT sum(CASE m.direction WHEN 'IN' THEN m.amount ELSE -m.amount END)
                     FROM capital_movements m WHERE m.junta_id = p_junta_id), 0)
$$;

-- base_capital + net ACCION and MULTA movements.
CREATE OR REPLACE FUNCTION calculate_current_capital(p_junta_id TEXT) RETURNS numeric
LANGUAGE sql STABLE AS $$
  SELECT COALESCE((SELECT j.base_capital FROM "Junta" j WHERE j.id = p_junta_id), 0)
       + COALESCE((SELECT sum(CASE m.direction WHEN 'IN' THEN m.amount ELSE -m.amount END)
                     FROM capital_movements m
                    WHERE m.junta_id = p_junta_id AND m.type IN ('ACCION', 'MULTA')), 0)
$$;

-- Operators set the opening balance through this function, which moves the derived columns with it
-- (no trigger is added to the legacy "Junta" table).
CREATE OR REPLACE FUNCTION set_junta_base_capital(p_junta_id TEXT, p_base numeric) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
  IF p_base IS NULL THEN
    RAISE EXCEPTION 'base capital must not be null';
  END IF;
  UPDATE "Junta" j
     SET available_capital = j.available_capital + (p_base - j.base_capital),
         current_capital   = j.current_capital + (p_base - j.base_capital),
         base_capital      = p_base
   WHERE j.id = p_junta_id;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'junta % does not exist', p_junta_id USING ERRCODE = 'no_data_found';
  END IF;
END $$;
