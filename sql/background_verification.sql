-- Objects of the reconciler's background verification, self-repair and migration report (SPEC §5, §6),
-- on top of sql/reconciler_views.sql. Idempotent.
--  1. comparisons of given loans and payments (per-id lookups, the same columns as the whole-table
--     views loan_comparison and payment_comparison), and the capital check per junta through lateral
--     lookups: the background verification checks one range of junta ids at a time with them, at a
--     cost proportional to the range, not to the tables;
--  2. what the background verification found (one row per pass) and the samples the reconciler takes
--     for the migration report's charts; both are pruned by the reconciler.
-- lock_timeout: 2s unless the session already chose one (the migrator sets LOCK_TIMEOUT_MS).
SELECT set_config('lock_timeout', '2s', false) WHERE current_setting('lock_timeout') = '0';

-- ---- 1. comparisons for a slice -------------------------------------------------------------------

-- loan_comparison for the given loan ids only: each id looked up (expected_prestamo_new per loan,
-- "PrestamoNew" by primary key). Ids in neither table give no row.
CREATE OR REPLACE FUNCTION prestamos_cdc.loan_comparison_of(p_ids text[])
RETURNS SETOF prestamos_cdc.loan_comparison
LANGUAGE sql STABLE SET search_path FROM CURRENT AS $$
SELECT x.id,
       CASE WHEN NOT x.has_new THEN 'missing' WHEN NOT x.has_expected THEN 'extra' WHEN x.fields IS NOT NULL THEN 'differs' END AS problem,
       coalesce(x.fields, ARRAY[]::text[]) AS fields,
       x.has_expected, x.has_new,
       x.expected_total_paid, x.expected_principal_paid, x.expected_interest_paid, x.expected_payments_count,
       x.new_total_paid, x.new_principal_paid, x.new_interest_paid, x.new_payments_count
  FROM (
    SELECT i.id,
           e.id IS NOT NULL AS has_expected,
           n.id IS NOT NULL AS has_new,
           CASE WHEN e.id IS NOT NULL AND n.id IS NOT NULL AND
                     (e.junta_id, e.member_id, e.principal, e.monthly_interest_rate, e.installments, e.status, e.disbursed_at, e.due_at, e.notes, e.total_paid, e.principal_paid, e.interest_paid, e.outstanding_principal, e.payments_count, e.last_payment_at, e.created_at, e.updated_at)
                     IS DISTINCT FROM
                     (n.junta_id, n.member_id, n.principal, n.monthly_interest_rate, n.installments, n.status, n.disbursed_at, n.due_at, n.notes, n.total_paid, n.principal_paid, n.interest_paid, n.outstanding_principal, n.payments_count, n.last_payment_at, n.created_at, n.updated_at)
                THEN array_remove(ARRAY[
                  CASE WHEN e.junta_id IS DISTINCT FROM n.junta_id THEN 'junta_id' END,
                  CASE WHEN e.member_id IS DISTINCT FROM n.member_id THEN 'member_id' END,
                  CASE WHEN e.principal IS DISTINCT FROM n.principal THEN 'principal' END,
                  CASE WHEN e.monthly_interest_rate IS DISTINCT FROM n.monthly_interest_rate THEN 'monthly_interest_rate' END,
                  CASE WHEN e.installments IS DISTINCT FROM n.installments THEN 'installments' END,
                  CASE WHEN e.status IS DISTINCT FROM n.status THEN 'status' END,
                  CASE WHEN e.disbursed_at IS DISTINCT FROM n.disbursed_at THEN 'disbursed_at' END,
                  CASE WHEN e.due_at IS DISTINCT FROM n.due_at THEN 'due_at' END,
                  CASE WHEN e.notes IS DISTINCT FROM n.notes THEN 'notes' END,
                  CASE WHEN e.total_paid IS DISTINCT FROM n.total_paid THEN 'total_paid' END,
                  CASE WHEN e.principal_paid IS DISTINCT FROM n.principal_paid THEN 'principal_paid' END,
                  CASE WHEN e.interest_paid IS DISTINCT FROM n.interest_paid THEN 'interest_paid' END,
                  CASE WHEN e.outstanding_principal IS DISTINCT FROM n.outstanding_principal THEN 'outstanding_principal' END,
                  CASE WHEN e.payments_count IS DISTINCT FROM n.payments_count THEN 'payments_count' END,
                  CASE WHEN e.last_payment_at IS DISTINCT FROM n.last_payment_at THEN 'last_payment_at' END,
                  CASE WHEN e.created_at IS DISTINCT FROM n.created_at THEN 'created_at' END,
                  CASE WHEN e.updated_at IS DISTINCT FROM n.updated_at THEN 'updated_at' END], NULL)
           END AS fields,
           e.total_paid AS expected_total_paid, e.principal_paid AS expected_principal_paid,
           e.interest_paid AS expected_interest_paid, e.payments_count AS expected_payments_count,
           n.total_paid AS new_total_paid, n.principal_paid AS new_principal_paid,
           n.interest_paid AS new_interest_paid, n.payments_count AS new_payments_count
      FROM (SELECT DISTINCT u AS id FROM unnest(p_ids) u) i
      LEFT JOIN LATERAL (SELECT * FROM prestamos_cdc.expected_prestamo_new e WHERE e.id = i.id) e ON true
      LEFT JOIN LATERAL (SELECT * FROM "PrestamoNew" n WHERE n.id = i.id) n ON true
     WHERE e.id IS NOT NULL OR n.id IS NOT NULL
  ) x
$$;

-- payment_comparison for the given payment ids only.
CREATE OR REPLACE FUNCTION prestamos_cdc.payment_comparison_of(p_ids text[])
RETURNS SETOF prestamos_cdc.payment_comparison
LANGUAGE sql STABLE SET search_path FROM CURRENT AS $$
SELECT x.id,
       CASE WHEN NOT x.has_new THEN 'missing' WHEN NOT x.has_expected THEN 'extra' WHEN x.fields IS NOT NULL THEN 'differs' END AS problem,
       coalesce(x.fields, ARRAY[]::text[]) AS fields,
       x.has_expected, x.has_new
  FROM (
    SELECT i.id,
           e.id IS NOT NULL AS has_expected,
           n.id IS NOT NULL AS has_new,
           CASE WHEN e.id IS NOT NULL AND n.id IS NOT NULL AND
                     (e.prestamo_id, e.amount, e.principal_amount, e.interest_amount, e.paid_at, e.status, e.created_at, e.updated_at)
                     IS DISTINCT FROM
                     (n.prestamo_id, n.amount, n.principal_amount, n.interest_amount, n.paid_at, n.status, n.created_at, n.updated_at)
                THEN array_remove(ARRAY[
                  CASE WHEN e.prestamo_id IS DISTINCT FROM n.prestamo_id THEN 'prestamo_id' END,
                  CASE WHEN e.amount IS DISTINCT FROM n.amount THEN 'amount' END,
                  CASE WHEN e.principal_amount IS DISTINCT FROM n.principal_amount THEN 'principal_amount' END,
                  CASE WHEN e.interest_amount IS DISTINCT FROM n.interest_amount THEN 'interest_amount' END,
                  CASE WHEN e.paid_at IS DISTINCT FROM n.paid_at THEN 'paid_at' END,
                  CASE WHEN e.status IS DISTINCT FROM n.status THEN 'status' END,
                  CASE WHEN e.created_at IS DISTINCT FROM n.created_at THEN 'created_at' END,
                  CASE WHEN e.updated_at IS DISTINCT FROM n.updated_at THEN 'updated_at' END], NULL)
           END AS fields
      FROM (SELECT DISTINCT u AS id FROM unnest(p_ids) u) i
      LEFT JOIN LATERAL (SELECT * FROM prestamos_cdc.expected_pago_new e WHERE e.id = i.id) e ON true
      LEFT JOIN LATERAL (SELECT * FROM "PagoPrestamoNew" n WHERE n.id = i.id) n ON true
     WHERE e.id IS NOT NULL OR n.id IS NOT NULL
  ) x
$$;

-- expected_ledger_worth for a filter on the junta: the payments of the selected loans are looked up
-- loan by loan (OFFSET 0 keeps the planner from turning the lookup into a scan of every payment).
CREATE OR REPLACE VIEW prestamos_cdc.expected_ledger_worth_each AS
SELECT 'PRESTAMO'::text AS type, p.id AS row_id, p."juntaId" AS junta_id, -p.monto AS worth
  FROM "Prestamo" p
 WHERE p.estado IN ('DESEMBOLSADO', 'PAGADO', 'VENCIDO')
   AND NOT EXISTS (SELECT 1 FROM prestamos_cdc.rolled_back_loans r WHERE r.prestamo_id = p.id)
UNION ALL
SELECT 'PAGO', pp.id, p."juntaId", pp.monto
  FROM "Prestamo" p
 CROSS JOIN LATERAL (SELECT x.id, x.monto FROM "PagoPrestamo" x WHERE x."prestamoId" = p.id AND NOT x.anulado OFFSET 0) pp
 WHERE NOT EXISTS (SELECT 1 FROM prestamos_cdc.rolled_back_loans r WHERE r.prestamo_id = p.id)
UNION ALL
SELECT 'ACCION', a.id, a."juntaId", a.cantidad * a."valorUnitario"
  FROM "Accion" a WHERE a.affects_capital
UNION ALL
SELECT 'MULTA', m.id, m."juntaId", m.monto
  FROM "Multa" m WHERE m.pagada AND m.affects_capital;

-- junta_capital_check, each junta through index lookups of its own movements and loans (a filter on
-- the junta id selects the juntas first; junta_capital_check aggregates every movement).
CREATE OR REPLACE VIEW prestamos_cdc.junta_capital_check_each AS
SELECT j.id AS junta_id,
       j.nombre,
       j.base_capital,
       j.available_capital,
       j.current_capital,
       COALESCE(mv.net_all, 0) + j.base_capital AS calculated_available,
       COALESCE(mv.net_capital, 0) + j.base_capital AS calculated_current,
       j.available_capital - j.current_capital AS capital_difference,
       COALESCE(l.interest_paid, 0) - COALESCE(l.outstanding_principal, 0) AS loans_difference,
       COALESCE(l.negative_outstanding, 0) AS loans_with_negative_outstanding
  FROM "Junta" j
  LEFT JOIN LATERAL (SELECT sum(CASE m.direction WHEN 'IN' THEN m.amount ELSE -m.amount END) AS net_all,
                            sum(CASE WHEN m.type IN ('ACCION', 'MULTA')
                                     THEN CASE m.direction WHEN 'IN' THEN m.amount ELSE -m.amount END ELSE 0 END) AS net_capital
                       FROM capital_movements m WHERE m.junta_id = j.id) mv ON true
  LEFT JOIN LATERAL (SELECT sum(n.interest_paid) AS interest_paid,
                            sum(n.outstanding_principal) AS outstanding_principal,
                            count(*) FILTER (WHERE n.outstanding_principal < 0) AS negative_outstanding
                       FROM "PrestamoNew" n WHERE n.junta_id = j.id) l ON true;

CREATE OR REPLACE VIEW prestamos_cdc.capital_diff_each AS
SELECT c.*,
       abs(c.available_capital - c.calculated_available) > 0.01 AS available_differs,
       abs(c.current_capital - c.calculated_current) > 0.01 AS current_differs,
       abs(c.capital_difference - c.loans_difference) > 0.01 AS cross_check_breaks
  FROM prestamos_cdc.junta_capital_check_each c
 WHERE abs(c.available_capital - c.calculated_available) > 0.01
    OR abs(c.current_capital - c.calculated_current) > 0.01
    OR abs(c.capital_difference - c.loans_difference) > 0.01;

-- ---- 2. results and samples -----------------------------------------------------------------------

-- One row per background verification pass: the slices it checked, and the merged result of the last
-- check of every slice (the whole key space once a cycle has completed).
CREATE TABLE IF NOT EXISTS prestamos_cdc.verification_runs (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  checked_at timestamptz NOT NULL DEFAULT now(),
  duration_ms integer NOT NULL,
  cycle integer NOT NULL,
  cycle_complete boolean NOT NULL,
  coverage numeric(7,6) NOT NULL,
  consistent boolean NOT NULL,
  result jsonb NOT NULL
);
CREATE INDEX IF NOT EXISTS verification_runs_at_idx ON prestamos_cdc.verification_runs(checked_at);

-- What the reconciler samples every VERIFY_INTERVAL_SECONDS for the report's charts: rows migrated
-- per table, end-to-end lag, events applied so far (throughput is the difference between samples).
CREATE TABLE IF NOT EXISTS prestamos_cdc.progress_samples (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  sampled_at timestamptz NOT NULL DEFAULT now(),
  migrated jsonb NOT NULL,
  totals jsonb NOT NULL,
  lag_seconds double precision,
  events_applied bigint NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS progress_samples_at_idx ON prestamos_cdc.progress_samples(sampled_at);
