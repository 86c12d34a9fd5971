-- Rollback of the whole capital-tracking migration (the operators' guide, "Rollback Procedure"):
--   1. stop the system (application servers that read the new tables, and every prestamos-cdc process);
--   2. psql "$DATABASE_URL" -f sql/rollback_capital_tracking.sql
-- It removes every object this project created: the replication slots and publications it recorded,
-- the read-routing schema, its own state schema, the trigger, the functions, the new tables and the
-- columns added to legacy tables. Legacy rows are not touched; the last queries verify the result.
-- A slot still in use makes it fail (stop the capture first) rather than leave half the objects.
SET lock_timeout = '5s';

BEGIN;

DO $$
DECLARE
  r record;
BEGIN
  IF to_regclass('prestamos_cdc.pipeline') IS NOT NULL THEN
    FOR r IN SELECT slot_name, publication FROM prestamos_cdc.pipeline LOOP
      PERFORM pg_drop_replication_slot(s.slot_name)
         FROM pg_replication_slots s
        WHERE s.slot_name = r.slot_name AND s.database = current_database();
      EXECUTE format('DROP PUBLICATION IF EXISTS %I', r.publication);
    END LOOP;
  END IF;
END $$;

DROP SCHEMA IF EXISTS prestamos_read CASCADE;
DROP SCHEMA IF EXISTS prestamos_cdc CASCADE;

-- The guide's procedure.
DROP TRIGGER IF EXISTS trg_capital_movement_insert ON capital_movements;
DROP FUNCTION IF EXISTS update_junta_capital();
DROP FUNCTION IF EXISTS calculate_available_capital(TEXT);
DROP FUNCTION IF EXISTS calculate_current_capital(TEXT);
DROP FUNCTION IF EXISTS set_junta_base_capital(TEXT, numeric);
DROP TABLE IF EXISTS capital_movements CASCADE;
DROP FUNCTION IF EXISTS capital_movements_append_only();
DROP TABLE IF EXISTS "PagoPrestamoNew" CASCADE;
DROP TABLE IF EXISTS "PrestamoNew" CASCADE;

ALTER TABLE "Junta"
  DROP COLUMN IF EXISTS current_capital,
  DROP COLUMN IF EXISTS base_capital,
  DROP COLUMN IF EXISTS available_capital,
  DROP COLUMN IF EXISTS capital_junta_id;
ALTER TABLE "Accion" DROP COLUMN IF EXISTS affects_capital;
ALTER TABLE "Multa" DROP COLUMN IF EXISTS affects_capital;

COMMIT;

-- Verify the system state.
SELECT count(*) AS junta_count FROM "Junta";
SELECT count(*) AS prestamo_count FROM "Prestamo";
SELECT count(*) AS pago_count FROM "PagoPrestamo";
SELECT EXISTS (SELECT 1 FROM information_schema.tables WHERE table_name = 'capital_movements') AS migration_exists;
