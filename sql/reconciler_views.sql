-- Objects of the reconciler (SPEC §5), on top of sql/verification_views.sql. Idempotent.
--  1. in-flight classification: is the newest version of a legacy row already applied by the sync?
--     (the row's xmin against the version-guard state in prestamos_cdc.row_state);
--  2. set-based comparison of the loans (one hash aggregate instead of a lookup per loan) and
--     field-by-field comparison of given loans and payments, with legacy, expected and new values;
--  3. the read-routing schema `prestamos_read`: views shaped like the legacy "Prestamo" and
--     "PagoPrestamo" that read either the legacy tables or the new ones (cutover, pgroll-style).
-- Nothing here writes a legacy table or locks one beyond what a read does. Functions that name legacy
-- tables pin the search_path they were created with, so that a caller's search_path (say
-- prestamos_read first) cannot change what they read.
-- lock_timeout: 2s unless the session already chose one (the migrator sets LOCK_TIMEOUT_MS).
SELECT set_config('lock_timeout', '2s', false) WHERE current_setting('lock_timeout') = '0';

-- ---- 1. in flight ------------------------------------------------------------------------------

-- A 32-bit xid (a row's xmin) as the xid8 of the same transaction, in the epoch of the current
-- snapshot (any committed xmin is older than the snapshot's xmax).
CREATE OR REPLACE FUNCTION prestamos_cdc.widen_xid(x xid) RETURNS xid8
LANGUAGE sql STABLE AS $$
  SELECT (CASE
            WHEN x::text::bigint <= (s.h & 4294967295) OR s.h < 4294967296
              THEN ((s.h >> 32) << 32) | x::text::bigint
            ELSE (((s.h >> 32) - 1) << 32) | x::text::bigint
          END)::text::xid8
    FROM (SELECT pg_snapshot_xmax(pg_current_snapshot())::text::bigint AS h) s
$$;

-- Does the version-guard state (a row of prestamos_cdc.row_state) hold the legacy version written by
-- transaction `legacy_xmin`? A streamed change holds it when it came from that transaction; a snapshot
-- row holds it when that transaction was visible to the snapshot.
CREATE OR REPLACE FUNCTION prestamos_cdc.version_applied(s_lsn pg_lsn, s_xid xid8, s_snapshot pg_snapshot, s_deleted boolean, legacy_xmin xid)
RETURNS boolean LANGUAGE sql STABLE AS $$
  SELECT CASE
    WHEN s_lsn IS NULL OR s_deleted IS NOT FALSE OR legacy_xmin IS NULL THEN false
    WHEN s_snapshot IS NOT NULL THEN pg_visible_in_snapshot(prestamos_cdc.widen_xid(legacy_xmin), s_snapshot)
    ELSE s_xid IS NOT NULL AND (s_xid::text::bigint & 4294967295) = legacy_xmin::text::bigint
  END
$$;

-- xmin of a legacy row (NULL when the row does not exist).
CREATE OR REPLACE FUNCTION prestamos_cdc.legacy_xmin(p_table text, p_id text) RETURNS xid
LANGUAGE sql STABLE SET search_path FROM CURRENT AS $$
  SELECT CASE p_table
    WHEN 'Prestamo' THEN (SELECT t.xmin FROM "Prestamo" t WHERE t.id = p_id)
    WHEN 'PagoPrestamo' THEN (SELECT t.xmin FROM "PagoPrestamo" t WHERE t.id = p_id)
    WHEN 'Accion' THEN (SELECT t.xmin FROM "Accion" t WHERE t.id = p_id)
    WHEN 'Multa' THEN (SELECT t.xmin FROM "Multa" t WHERE t.id = p_id)
  END
$$;

-- Is a change of this legacy row on its way (committed on the source, not yet applied)? For a row
-- that exists: its version is not the one the sync holds. For a row that no longer exists: the sync
-- still holds it (the delete has not been applied yet).
CREATE OR REPLACE FUNCTION prestamos_cdc.row_in_flight(p_table text, p_id text) RETURNS boolean
LANGUAGE sql STABLE SET search_path FROM CURRENT AS $$
  SELECT CASE
    WHEN l.x IS NULL THEN coalesce(s.lsn IS NOT NULL AND NOT s.deleted, false)
    ELSE NOT coalesce(prestamos_cdc.version_applied(s.lsn, s.xid, s.snapshot, s.deleted, l.x), false)
  END
    FROM (SELECT prestamos_cdc.legacy_xmin(p_table, p_id) AS x) l
    LEFT JOIN prestamos_cdc.row_state s ON s.source_table = p_table AND s.row_id = p_id
$$;

-- A loan's values in the new tables depend on the loan row and on every payment of it: the loan is in
-- flight when any of them is. Rolled-back loans are never in flight (the stream leaves them alone).
CREATE OR REPLACE FUNCTION prestamos_cdc.loan_in_flight(p_id text) RETURNS boolean
LANGUAGE sql STABLE SET search_path FROM CURRENT AS $$
  SELECT NOT EXISTS (SELECT 1 FROM prestamos_cdc.rolled_back_loans r WHERE r.prestamo_id = p_id)
     AND (prestamos_cdc.row_in_flight('Prestamo', p_id)
          OR EXISTS (SELECT 1 FROM "PagoPrestamo" pp WHERE pp."prestamoId" = p_id AND prestamos_cdc.row_in_flight('PagoPrestamo', pp.id))
          OR EXISTS (SELECT 1 FROM "PagoPrestamoNew" n WHERE n.prestamo_id = p_id AND prestamos_cdc.row_in_flight('PagoPrestamo', n.id)))
$$;

-- ---- 2. comparison ------------------------------------------------------------------------------

-- Loan aggregates of every loan at once: one hash aggregate over the payments. The split is the one of
-- expected_pago_new (same formula), written over the legacy columns so that the planner can estimate
-- the rows (a filter on expected_pago_new.status, a CASE, is estimated at a fraction of a percent).
-- Rolled-back loans are left out by the views that use it.
CREATE OR REPLACE VIEW prestamos_cdc.expected_loan_totals AS
SELECT pp."prestamoId" AS prestamo_id,
       sum(pp.monto) AS total_paid,
       sum(pp.monto - round(pp.monto * l.k / NULLIF(1 + l.k, 0), 2)) AS principal_paid,
       sum(round(pp.monto * l.k / NULLIF(1 + l.k, 0), 2)) AS interest_paid,
       count(*)::integer AS payments_count,
       max(pp.fecha AT TIME ZONE 'UTC') AS last_payment_at
  FROM "PagoPrestamo" pp
  JOIN (SELECT p.id, p."tasaInteres" * p.cuotas AS k FROM "Prestamo" p) l ON l.id = pp."prestamoId"
 WHERE NOT pp.anulado
 GROUP BY pp."prestamoId";

-- expected_prestamo_new, set-based: for whole-table comparisons (expected_prestamo_new, which looks
-- up each loan's payments, stays the better plan for a few given ids).
CREATE OR REPLACE VIEW prestamos_cdc.expected_prestamo_set AS
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
  LEFT JOIN prestamos_cdc.expected_loan_totals a ON a.prestamo_id = p.id
 WHERE NOT EXISTS (SELECT 1 FROM prestamos_cdc.rolled_back_loans r WHERE r.prestamo_id = p.id);

-- Every loan, legacy-implied against new, in one set-based pass: the problem ('missing', 'extra',
-- 'differs', or NULL when the row matches), the names of the fields that differ, and the payment totals
-- of both sides (for the global sums, so that the aggregate over the payments is computed once).
CREATE OR REPLACE VIEW prestamos_cdc.loan_comparison AS
SELECT x.id,
       CASE WHEN NOT x.has_new THEN 'missing' WHEN NOT x.has_expected THEN 'extra' WHEN x.fields IS NOT NULL THEN 'differs' END AS problem,
       coalesce(x.fields, ARRAY[]::text[]) AS fields,
       x.has_expected, x.has_new,
       x.expected_total_paid, x.expected_principal_paid, x.expected_interest_paid, x.expected_payments_count,
       x.new_total_paid, x.new_principal_paid, x.new_interest_paid, x.new_payments_count
  FROM (
    SELECT coalesce(e.id, n.id) AS id,
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
      FROM prestamos_cdc.expected_prestamo_set e
      FULL JOIN "PrestamoNew" n ON n.id = e.id
  ) x;

-- prestamo_diff's rows (the loans that differ) from the set-based comparison.
CREATE OR REPLACE VIEW prestamos_cdc.prestamo_mismatch AS
SELECT id, problem, fields FROM prestamos_cdc.loan_comparison WHERE problem IS NOT NULL;

-- Every payment, legacy-implied against new, in one pass (as loan_comparison): the problem or NULL,
-- and the names of the fields that differ.
CREATE OR REPLACE VIEW prestamos_cdc.payment_comparison AS
SELECT x.id,
       CASE WHEN NOT x.has_new THEN 'missing' WHEN NOT x.has_expected THEN 'extra' WHEN x.fields IS NOT NULL THEN 'differs' END AS problem,
       coalesce(x.fields, ARRAY[]::text[]) AS fields,
       x.has_expected, x.has_new
  FROM (
    SELECT coalesce(e.id, n.id) AS id,
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
      FROM prestamos_cdc.expected_pago_new e
      FULL JOIN "PagoPrestamoNew" n ON n.id = e.id
  ) x;

-- Display helpers: timestamps as ISO 8601 UTC, long text shortened (bounded answers).
CREATE OR REPLACE FUNCTION prestamos_cdc.iso_utc(t timestamptz) RETURNS text
LANGUAGE sql IMMUTABLE AS $$ SELECT to_char(t AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') $$;

CREATE OR REPLACE FUNCTION prestamos_cdc.short_text(t text) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
  SELECT CASE WHEN length(t) > 120 THEN left(t, 120) || '… (' || length(t) || ' characters, md5 ' || md5(t) || ')' ELSE t END
$$;

-- Field by field, for the given loans: the legacy column(s) it comes from and their value, the value
-- the rules of SPEC §3 derive from the legacy rows, the value in "PrestamoNew", and whether they match.
-- Derived fields (totals over payments) name their source instead of a single legacy column.
CREATE OR REPLACE FUNCTION prestamos_cdc.loan_field_comparison(p_ids text[])
RETURNS TABLE (id text, field text, legacy_column text, legacy_value text, expected text, new_value text, matches boolean)
LANGUAGE sql STABLE SET search_path FROM CURRENT AS $$
  SELECT i.id, f.field, f.legacy_column, f.legacy_value, f.expected, f.new_value, f.matches
    FROM unnest(p_ids) WITH ORDINALITY AS i(id, ord)
    LEFT JOIN "Prestamo" p ON p.id = i.id
    LEFT JOIN prestamos_cdc.expected_prestamo_new e ON e.id = i.id
    LEFT JOIN "PrestamoNew" n ON n.id = i.id
   CROSS JOIN LATERAL (VALUES
     (1, 'junta_id', '"juntaId"', p."juntaId", e.junta_id, n.junta_id, e.junta_id IS NOT DISTINCT FROM n.junta_id),
     (2, 'member_id', '"miembroId"', p."miembroId", e.member_id, n.member_id, e.member_id IS NOT DISTINCT FROM n.member_id),
     (3, 'principal', 'monto', p.monto::text, e.principal::text, n.principal::text, e.principal IS NOT DISTINCT FROM n.principal),
     (4, 'monthly_interest_rate', '"tasaInteres"', p."tasaInteres"::text, e.monthly_interest_rate::text, n.monthly_interest_rate::text,
         e.monthly_interest_rate IS NOT DISTINCT FROM n.monthly_interest_rate),
     (5, 'installments', 'cuotas', p.cuotas::text, e.installments::text, n.installments::text, e.installments IS NOT DISTINCT FROM n.installments),
     (6, 'status', 'estado', p.estado, e.status, n.status, e.status IS NOT DISTINCT FROM n.status),
     (7, 'disbursed_at', '"fechaDesembolso"', p."fechaDesembolso"::text, prestamos_cdc.iso_utc(e.disbursed_at), prestamos_cdc.iso_utc(n.disbursed_at),
         e.disbursed_at IS NOT DISTINCT FROM n.disbursed_at),
     (8, 'due_at', '"fechaVencimiento"', p."fechaVencimiento"::text, prestamos_cdc.iso_utc(e.due_at), prestamos_cdc.iso_utc(n.due_at),
         e.due_at IS NOT DISTINCT FROM n.due_at),
     (9, 'notes', 'observaciones', prestamos_cdc.short_text(p.observaciones), prestamos_cdc.short_text(e.notes), prestamos_cdc.short_text(n.notes),
         e.notes IS NOT DISTINCT FROM n.notes),
     (10, 'total_paid', 'sum of PagoPrestamo.monto (not anulado)', NULL, e.total_paid::numeric(14,2)::text, n.total_paid::text,
         e.total_paid IS NOT DISTINCT FROM n.total_paid),
     (11, 'principal_paid', 'sum of payment principal splits', NULL, e.principal_paid::numeric(14,2)::text, n.principal_paid::text,
         e.principal_paid IS NOT DISTINCT FROM n.principal_paid),
     (12, 'interest_paid', 'sum of payment interest splits', NULL, e.interest_paid::numeric(14,2)::text, n.interest_paid::text,
         e.interest_paid IS NOT DISTINCT FROM n.interest_paid),
     (13, 'outstanding_principal', 'monto while disbursed − principal_paid', NULL, e.outstanding_principal::numeric(14,2)::text, n.outstanding_principal::text,
         e.outstanding_principal IS NOT DISTINCT FROM n.outstanding_principal),
     (14, 'payments_count', 'count of PagoPrestamo (not anulado)', NULL, e.payments_count::text, n.payments_count::text,
         e.payments_count IS NOT DISTINCT FROM n.payments_count),
     (15, 'last_payment_at', 'max of PagoPrestamo.fecha (not anulado)', NULL, prestamos_cdc.iso_utc(e.last_payment_at), prestamos_cdc.iso_utc(n.last_payment_at),
         e.last_payment_at IS NOT DISTINCT FROM n.last_payment_at),
     (16, 'created_at', '"createdAt"', p."createdAt"::text, prestamos_cdc.iso_utc(e.created_at), prestamos_cdc.iso_utc(n.created_at),
         e.created_at IS NOT DISTINCT FROM n.created_at),
     (17, 'updated_at', '"updatedAt"', p."updatedAt"::text, prestamos_cdc.iso_utc(e.updated_at), prestamos_cdc.iso_utc(n.updated_at),
         e.updated_at IS NOT DISTINCT FROM n.updated_at)
   ) AS f(pos, field, legacy_column, legacy_value, expected, new_value, matches)
   ORDER BY i.ord, f.pos
$$;

CREATE OR REPLACE FUNCTION prestamos_cdc.payment_field_comparison(p_ids text[])
RETURNS TABLE (id text, field text, legacy_column text, legacy_value text, expected text, new_value text, matches boolean)
LANGUAGE sql STABLE SET search_path FROM CURRENT AS $$
  SELECT i.id, f.field, f.legacy_column, f.legacy_value, f.expected, f.new_value, f.matches
    FROM unnest(p_ids) WITH ORDINALITY AS i(id, ord)
    LEFT JOIN "PagoPrestamo" pp ON pp.id = i.id
    LEFT JOIN prestamos_cdc.expected_pago_new e ON e.id = i.id
    LEFT JOIN "PagoPrestamoNew" n ON n.id = i.id
   CROSS JOIN LATERAL (VALUES
     (1, 'prestamo_id', '"prestamoId"', pp."prestamoId", e.prestamo_id, n.prestamo_id, e.prestamo_id IS NOT DISTINCT FROM n.prestamo_id),
     (2, 'amount', 'monto', pp.monto::text, e.amount::text, n.amount::text, e.amount IS NOT DISTINCT FROM n.amount),
     (3, 'principal_amount', 'monto − interest_amount', NULL, e.principal_amount::text, n.principal_amount::text,
         e.principal_amount IS NOT DISTINCT FROM n.principal_amount),
     (4, 'interest_amount', 'round(monto × k / (1 + k), 2), k = "tasaInteres" × cuotas of the loan', NULL, e.interest_amount::text, n.interest_amount::text,
         e.interest_amount IS NOT DISTINCT FROM n.interest_amount),
     (5, 'paid_at', 'fecha', pp.fecha::text, prestamos_cdc.iso_utc(e.paid_at), prestamos_cdc.iso_utc(n.paid_at), e.paid_at IS NOT DISTINCT FROM n.paid_at),
     (6, 'status', 'anulado', pp.anulado::text, e.status, n.status, e.status IS NOT DISTINCT FROM n.status),
     (7, 'created_at', '"createdAt"', pp."createdAt"::text, prestamos_cdc.iso_utc(e.created_at), prestamos_cdc.iso_utc(n.created_at),
         e.created_at IS NOT DISTINCT FROM n.created_at),
     (8, 'updated_at', '"updatedAt"', pp."updatedAt"::text, prestamos_cdc.iso_utc(e.updated_at), prestamos_cdc.iso_utc(n.updated_at),
         e.updated_at IS NOT DISTINCT FROM n.updated_at)
   ) AS f(pos, field, legacy_column, legacy_value, expected, new_value, matches)
   ORDER BY i.ord, f.pos
$$;

-- ---- 3. read routing ----------------------------------------------------------------------------
-- The application reads loans from prestamos_read."Prestamo" and prestamos_read."PagoPrestamo"
-- (search_path prestamos_read, public on its read connection). Both views have exactly the legacy
-- columns and types; route_reads() points them at the legacy tables or at the new tables mapped back
-- to the legacy shape. CREATE OR REPLACE VIEW locks only the view itself: writes to the tables never
-- wait for it. The caller sets lock_timeout and runs it in one transaction with whatever records the
-- switch. The target is written in each view's comment, so the database itself says where reads go.
CREATE SCHEMA IF NOT EXISTS prestamos_read;

CREATE OR REPLACE FUNCTION prestamos_cdc.route_reads(p_target text) RETURNS text
LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
BEGIN
  IF p_target = 'legacy' THEN
    EXECUTE $v$
      CREATE OR REPLACE VIEW prestamos_read."Prestamo" AS
      SELECT p.id, p."juntaId", p."miembroId", p.monto, p."tasaInteres", p.cuotas, p.estado,
             p."fechaDesembolso", p."fechaVencimiento", p.observaciones, p."createdAt", p."updatedAt"
        FROM "Prestamo" p $v$;
    EXECUTE $v$
      CREATE OR REPLACE VIEW prestamos_read."PagoPrestamo" AS
      SELECT pp.id, pp."prestamoId", pp.monto, pp.fecha, pp.anulado, pp."createdAt", pp."updatedAt"
        FROM "PagoPrestamo" pp $v$;
  ELSIF p_target = 'new' THEN
    EXECUTE $v$
      CREATE OR REPLACE VIEW prestamos_read."Prestamo" AS
      SELECT n.id,
             n.junta_id AS "juntaId",
             n.member_id AS "miembroId",
             n.principal AS monto,
             n.monthly_interest_rate AS "tasaInteres",
             n.installments AS cuotas,
             CASE n.status
               WHEN 'pending' THEN 'PENDIENTE' WHEN 'approved' THEN 'APROBADO' WHEN 'disbursed' THEN 'DESEMBOLSADO'
               WHEN 'paid' THEN 'PAGADO' WHEN 'overdue' THEN 'VENCIDO' WHEN 'cancelled' THEN 'CANCELADO'
             END AS estado,
             (n.disbursed_at AT TIME ZONE 'UTC')::timestamp(3) AS "fechaDesembolso",
             (n.due_at AT TIME ZONE 'UTC')::timestamp(3) AS "fechaVencimiento",
             n.notes AS observaciones,
             (n.created_at AT TIME ZONE 'UTC')::timestamp(3) AS "createdAt",
             (n.updated_at AT TIME ZONE 'UTC')::timestamp(3) AS "updatedAt"
        FROM "PrestamoNew" n $v$;
    EXECUTE $v$
      CREATE OR REPLACE VIEW prestamos_read."PagoPrestamo" AS
      SELECT n.id,
             n.prestamo_id AS "prestamoId",
             n.amount AS monto,
             (n.paid_at AT TIME ZONE 'UTC')::timestamp(3) AS fecha,
             n.status = 'voided' AS anulado,
             (n.created_at AT TIME ZONE 'UTC')::timestamp(3) AS "createdAt",
             (n.updated_at AT TIME ZONE 'UTC')::timestamp(3) AS "updatedAt"
        FROM "PagoPrestamoNew" n $v$;
  ELSE
    RAISE EXCEPTION 'route_reads: target must be legacy or new, not %', coalesce(p_target, 'NULL')
      USING ERRCODE = 'invalid_parameter_value';
  END IF;
  EXECUTE format('COMMENT ON VIEW prestamos_read."Prestamo" IS %L', 'prestamos-cdc read routing: ' || p_target);
  EXECUTE format('COMMENT ON VIEW prestamos_read."PagoPrestamo" IS %L', 'prestamos-cdc read routing: ' || p_target);
  RETURN p_target;
END $$;

-- Where the read-routing views point now ('legacy', 'new'), read from the views themselves; NULL when
-- they do not exist or disagree.
CREATE OR REPLACE FUNCTION prestamos_cdc.reads_routed_to() RETURNS text
LANGUAGE sql STABLE AS $$
  SELECT CASE WHEN a = b THEN a END
    FROM (SELECT substring(obj_description(to_regclass('prestamos_read."Prestamo"'), 'pg_class') FROM 'read routing: (legacy|new)$') AS a,
                 substring(obj_description(to_regclass('prestamos_read."PagoPrestamo"'), 'pg_class') FROM 'read routing: (legacy|new)$') AS b) x
$$;

-- Reads start on the legacy tables. A re-run leaves an existing routing as it is.
DO $$
BEGIN
  IF to_regclass('prestamos_read."Prestamo"') IS NULL OR to_regclass('prestamos_read."PagoPrestamo"') IS NULL THEN
    PERFORM prestamos_cdc.route_reads('legacy');
  END IF;
END $$;

-- The views are for reading, in both positions: a simple view on a legacy table would accept writes
-- until the cutover and refuse them after it, so writes are refused from the start (the triggers stay
-- with the views when route_reads replaces their definitions).
CREATE OR REPLACE FUNCTION prestamos_cdc.read_routing_is_read_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'prestamos_read.% is for reading only: write to the legacy table "%"', quote_ident(TG_TABLE_NAME), TG_TABLE_NAME
    USING ERRCODE = 'feature_not_supported';
END $$;
CREATE OR REPLACE TRIGGER trg_read_only INSTEAD OF INSERT OR UPDATE OR DELETE ON prestamos_read."Prestamo"
  FOR EACH ROW EXECUTE FUNCTION prestamos_cdc.read_routing_is_read_only();
CREATE OR REPLACE TRIGGER trg_read_only INSTEAD OF INSERT OR UPDATE OR DELETE ON prestamos_read."PagoPrestamo"
  FOR EACH ROW EXECUTE FUNCTION prestamos_cdc.read_routing_is_read_only();
