-- What the new tables and the ledger must hold, derived in SQL straight from the legacy tables by the
-- rules of SPEC §3. This is deliberately an implementation independent of the TypeScript apply code:
-- the reconciler and verify_migration.sql compare the two, so each checks the other.
-- Loans rolled back by an operator (and their payments) are expected to be absent.
-- lock_timeout: 2s unless the session already chose one (the migrator sets LOCK_TIMEOUT_MS).
SELECT set_config('lock_timeout', '2s', false) WHERE current_setting('lock_timeout') = '0';

CREATE OR REPLACE FUNCTION prestamos_cdc.map_loan_status(estado text) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
  SELECT CASE estado
    WHEN 'PENDIENTE' THEN 'pending'
    WHEN 'APROBADO' THEN 'approved'
    WHEN 'DESEMBOLSADO' THEN 'disbursed'
    WHEN 'PAGADO' THEN 'paid'
    WHEN 'VENCIDO' THEN 'overdue'
    WHEN 'CANCELADO' THEN 'cancelled'
  END
$$;

CREATE OR REPLACE VIEW prestamos_cdc.expected_pago_new AS
SELECT pp.id,
       pp."prestamoId" AS prestamo_id,
       pp.monto AS amount,
       pp.monto - round(pp.monto * t.k / NULLIF(1 + t.k, 0), 2) AS principal_amount,
       round(pp.monto * t.k / NULLIF(1 + t.k, 0), 2) AS interest_amount,
       pp.fecha AT TIME ZONE 'UTC' AS paid_at,
       CASE WHEN pp.anulado THEN 'voided' ELSE 'registered' END AS status,
       pp."createdAt" AT TIME ZONE 'UTC' AS created_at,
       pp."updatedAt" AT TIME ZONE 'UTC' AS updated_at
  FROM "PagoPrestamo" pp
  JOIN "Prestamo" p ON p.id = pp."prestamoId"
  CROSS JOIN LATERAL (SELECT p."tasaInteres" * p.cuotas AS k) t
 WHERE NOT EXISTS (SELECT 1 FROM prestamos_cdc.rolled_back_loans r WHERE r.prestamo_id = pp."prestamoId");

CREATE OR REPLACE VIEW prestamos_cdc.expected_prestamo_new AS
SELECT p.id,
       p."juntaId" AS junta_id,
       p."miembroId" AS member_id,
       p.monto AS principal,
       p."tasaInteres" AS monthly_interest_rate,
       p.cuotas AS installments,
       prestamos_cdc.map_loan_status(p.estado) AS status,
       p."fechaDesembolso" AT TIME ZONE 'UTC' AS disbursed_at,
       p."fechaVencimiento" AT TIME ZONE 'UTC' AS due_at,
       p.observaciones AS notes,
       COALESCE(a.total_paid, 0) AS total_paid,
       COALESCE(a.principal_paid, 0) AS principal_paid,
       COALESCE(a.interest_paid, 0) AS interest_paid,
       CASE WHEN p.estado IN ('DESEMBOLSADO', 'PAGADO', 'VENCIDO') THEN p.monto ELSE 0 END
         - COALESCE(a.principal_paid, 0) AS outstanding_principal,
       COALESCE(a.payments_count, 0)::integer AS payments_count,
       a.last_payment_at,
       p."createdAt" AT TIME ZONE 'UTC' AS created_at,
       p."updatedAt" AT TIME ZONE 'UTC' AS updated_at
  FROM "Prestamo" p
  LEFT JOIN LATERAL (
        SELECT sum(e.amount) AS total_paid,
               sum(e.principal_amount) AS principal_paid,
               sum(e.interest_amount) AS interest_paid,
               count(*) AS payments_count,
               max(e.paid_at) AS last_payment_at
          FROM prestamos_cdc.expected_pago_new e
         WHERE e.prestamo_id = p.id AND e.status = 'registered') a ON true
 WHERE NOT EXISTS (SELECT 1 FROM prestamos_cdc.rolled_back_loans r WHERE r.prestamo_id = p.id);

-- What every legacy row is worth to its junta (signed: IN positive, OUT negative).
CREATE OR REPLACE VIEW prestamos_cdc.expected_ledger_worth AS
SELECT 'PRESTAMO'::text AS type, p.id AS row_id, p."juntaId" AS junta_id, -p.monto AS worth
  FROM "Prestamo" p
 WHERE p.estado IN ('DESEMBOLSADO', 'PAGADO', 'VENCIDO')
   AND NOT EXISTS (SELECT 1 FROM prestamos_cdc.rolled_back_loans r WHERE r.prestamo_id = p.id)
UNION ALL
SELECT 'PAGO', pp.id, p."juntaId", pp.monto
  FROM "PagoPrestamo" pp JOIN "Prestamo" p ON p.id = pp."prestamoId"
 WHERE NOT pp.anulado
   AND NOT EXISTS (SELECT 1 FROM prestamos_cdc.rolled_back_loans r WHERE r.prestamo_id = p.id)
UNION ALL
SELECT 'ACCION', a.id, a."juntaId", a.cantidad * a."valorUnitario"
  FROM "Accion" a WHERE a.affects_capital
UNION ALL
SELECT 'MULTA', m.id, m."juntaId", m.monto
  FROM "Multa" m WHERE m.pagada AND m.affects_capital;

-- What the ledger says every legacy row is worth, per junta.
CREATE OR REPLACE VIEW prestamos_cdc.ledger_worth AS
SELECT m.type,
       CASE m.type WHEN 'PRESTAMO' THEN m.prestamo_id WHEN 'PAGO' THEN m.pago_id
                   WHEN 'ACCION' THEN m.accion_id ELSE m.multa_id END AS row_id,
       m.junta_id,
       sum(CASE m.direction WHEN 'IN' THEN m.amount ELSE -m.amount END) AS worth
  FROM capital_movements m
 GROUP BY 1, 2, 3;

-- Per junta: stored capital against a recomputation from the ledger, and the cross-check of SPEC §3
-- (available − current = Σ interest_paid − Σ outstanding_principal over its loans in the new tables).
CREATE OR REPLACE VIEW prestamos_cdc.junta_capital_check AS
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
  LEFT JOIN (SELECT m.junta_id,
                    sum(CASE m.direction WHEN 'IN' THEN m.amount ELSE -m.amount END) AS net_all,
                    sum(CASE WHEN m.type IN ('ACCION', 'MULTA')
                             THEN CASE m.direction WHEN 'IN' THEN m.amount ELSE -m.amount END ELSE 0 END) AS net_capital
               FROM capital_movements m GROUP BY m.junta_id) mv ON mv.junta_id = j.id
  LEFT JOIN (SELECT n.junta_id,
                    sum(n.interest_paid) AS interest_paid,
                    sum(n.outstanding_principal) AS outstanding_principal,
                    count(*) FILTER (WHERE n.outstanding_principal < 0) AS negative_outstanding
               FROM "PrestamoNew" n GROUP BY n.junta_id) l ON l.junta_id = j.id;

-- Rows of the new tables that differ from what the legacy rows imply: missing, extra, or the
-- names of the fields that differ.
CREATE OR REPLACE VIEW prestamos_cdc.prestamo_diff AS
SELECT coalesce(e.id, n.id) AS id,
       CASE WHEN n.id IS NULL THEN 'missing' WHEN e.id IS NULL THEN 'extra' ELSE 'differs' END AS problem,
       CASE WHEN n.id IS NULL OR e.id IS NULL THEN ARRAY[]::text[] ELSE array_remove(ARRAY[
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
         CASE WHEN e.updated_at IS DISTINCT FROM n.updated_at THEN 'updated_at' END], NULL) END AS fields
  FROM prestamos_cdc.expected_prestamo_new e
  FULL JOIN "PrestamoNew" n ON n.id = e.id
 WHERE n.id IS NULL OR e.id IS NULL
    OR (e.junta_id, e.member_id, e.principal, e.monthly_interest_rate, e.installments, e.status, e.disbursed_at, e.due_at, e.notes, e.total_paid, e.principal_paid, e.interest_paid, e.outstanding_principal, e.payments_count, e.last_payment_at, e.created_at, e.updated_at)
       IS DISTINCT FROM
       (n.junta_id, n.member_id, n.principal, n.monthly_interest_rate, n.installments, n.status, n.disbursed_at, n.due_at, n.notes, n.total_paid, n.principal_paid, n.interest_paid, n.outstanding_principal, n.payments_count, n.last_payment_at, n.created_at, n.updated_at);

CREATE OR REPLACE VIEW prestamos_cdc.pago_diff AS
SELECT coalesce(e.id, n.id) AS id,
       CASE WHEN n.id IS NULL THEN 'missing' WHEN e.id IS NULL THEN 'extra' ELSE 'differs' END AS problem,
       CASE WHEN n.id IS NULL OR e.id IS NULL THEN ARRAY[]::text[] ELSE array_remove(ARRAY[
         CASE WHEN e.prestamo_id IS DISTINCT FROM n.prestamo_id THEN 'prestamo_id' END,
         CASE WHEN e.amount IS DISTINCT FROM n.amount THEN 'amount' END,
         CASE WHEN e.principal_amount IS DISTINCT FROM n.principal_amount THEN 'principal_amount' END,
         CASE WHEN e.interest_amount IS DISTINCT FROM n.interest_amount THEN 'interest_amount' END,
         CASE WHEN e.paid_at IS DISTINCT FROM n.paid_at THEN 'paid_at' END,
         CASE WHEN e.status IS DISTINCT FROM n.status THEN 'status' END,
         CASE WHEN e.created_at IS DISTINCT FROM n.created_at THEN 'created_at' END,
         CASE WHEN e.updated_at IS DISTINCT FROM n.updated_at THEN 'updated_at' END], NULL) END AS fields
  FROM prestamos_cdc.expected_pago_new e
  FULL JOIN "PagoPrestamoNew" n ON n.id = e.id
 WHERE n.id IS NULL OR e.id IS NULL
    OR (e.prestamo_id, e.amount, e.principal_amount, e.interest_amount, e.paid_at, e.status, e.created_at, e.updated_at)
       IS DISTINCT FROM
       (n.prestamo_id, n.amount, n.principal_amount, n.interest_amount, n.paid_at, n.status, n.created_at, n.updated_at);

-- Legacy rows whose ledger worth differs from what they are worth.
CREATE OR REPLACE VIEW prestamos_cdc.ledger_diff AS
SELECT coalesce(e.type, w.type) AS type,
       coalesce(e.row_id, w.row_id) AS row_id,
       coalesce(e.junta_id, w.junta_id) AS junta_id,
       coalesce(e.worth, 0) AS expected_worth,
       coalesce(w.worth, 0) AS ledger_worth
  FROM prestamos_cdc.expected_ledger_worth e
  FULL JOIN prestamos_cdc.ledger_worth w
    ON w.type = e.type AND w.row_id = e.row_id AND w.junta_id = e.junta_id
 WHERE coalesce(e.worth, 0) <> coalesce(w.worth, 0);

-- Juntas whose stored capital differs from a recomputation, or whose cross-check breaks (within 0.01).
CREATE OR REPLACE VIEW prestamos_cdc.capital_diff AS
SELECT c.*,
       abs(c.available_capital - c.calculated_available) > 0.01 AS available_differs,
       abs(c.current_capital - c.calculated_current) > 0.01 AS current_differs,
       abs(c.capital_difference - c.loans_difference) > 0.01 AS cross_check_breaks
  FROM prestamos_cdc.junta_capital_check c
 WHERE abs(c.available_capital - c.calculated_available) > 0.01
    OR abs(c.current_capital - c.calculated_current) > 0.01
    OR abs(c.capital_difference - c.loans_difference) > 0.01;
