-- Verification of the capital-tracking migration, for psql:
--   psql "$DATABASE_URL" -f sql/verify_migration.sql
-- Run after `prestamos-cdc migrate` (it reads the views of sql/verification_views.sql). Every query
-- prints what it checks; the last one prints a single row whose `ok` is true only when all pass.
-- Read-only.
\echo '== 1. Migration objects'
SELECT name, present FROM (VALUES
  ('table PrestamoNew',        to_regclass('"PrestamoNew"') IS NOT NULL),
  ('table PagoPrestamoNew',    to_regclass('"PagoPrestamoNew"') IS NOT NULL),
  ('table capital_movements',  to_regclass('capital_movements') IS NOT NULL),
  ('trigger trg_capital_movement_insert',
      EXISTS (SELECT 1 FROM pg_trigger WHERE tgname = 'trg_capital_movement_insert')),
  ('function update_junta_capital()', to_regprocedure('update_junta_capital()') IS NOT NULL),
  ('function calculate_available_capital(text)', to_regprocedure('calculate_available_capital(text)') IS NOT NULL),
  ('Junta capital columns', (SELECT count(*) = 3 FROM information_schema.columns
      WHERE table_name = 'Junta' AND column_name IN ('current_capital', 'base_capital', 'available_capital'))),
  ('Accion.affects_capital', EXISTS (SELECT 1 FROM information_schema.columns
      WHERE table_name = 'Accion' AND column_name = 'affects_capital')),
  ('Multa.affects_capital', EXISTS (SELECT 1 FROM information_schema.columns
      WHERE table_name = 'Multa' AND column_name = 'affects_capital'))
) AS t(name, present);

\echo '== 2. Row counts: what the legacy rows imply against what the new tables hold'
SELECT 'PrestamoNew' AS new_table,
       (SELECT count(*) FROM prestamos_cdc.expected_prestamo_new) AS expected,
       (SELECT count(*) FROM "PrestamoNew") AS migrated
UNION ALL
SELECT 'PagoPrestamoNew',
       (SELECT count(*) FROM prestamos_cdc.expected_pago_new),
       (SELECT count(*) FROM "PagoPrestamoNew");

\echo '== 3. Loans and payments that differ from what the legacy rows imply (first 20 of each)'
(SELECT 'PrestamoNew' AS new_table, id, problem, fields FROM prestamos_cdc.prestamo_diff ORDER BY id LIMIT 20)
UNION ALL
(SELECT 'PagoPrestamoNew', id, problem, fields FROM prestamos_cdc.pago_diff ORDER BY id LIMIT 20);

\echo '== 4. Capital movements by type and direction'
SELECT type, direction, count(*) AS movements, sum(amount) AS total
  FROM capital_movements GROUP BY type, direction ORDER BY 1, 2;

\echo '== 5. Legacy rows whose worth in the ledger differs from what they are worth (first 20)'
SELECT * FROM prestamos_cdc.ledger_diff ORDER BY type, row_id LIMIT 20;

\echo '== 6. Juntas whose capital differs from a recomputation, or whose cross-check breaks (first 20)'
SELECT junta_id, nombre, available_capital, calculated_available, current_capital, calculated_current,
       capital_difference, loans_difference
  FROM prestamos_cdc.capital_diff ORDER BY junta_id LIMIT 20;

\echo '== 7. Summary'
SELECT NOT EXISTS (SELECT 1 FROM prestamos_cdc.prestamo_diff)
   AND NOT EXISTS (SELECT 1 FROM prestamos_cdc.pago_diff)
   AND NOT EXISTS (SELECT 1 FROM prestamos_cdc.ledger_diff)
   AND NOT EXISTS (SELECT 1 FROM prestamos_cdc.capital_diff) AS ok;
