// Verification in SQL, against the legacy tables: an implementation independent of the TypeScript
// apply (services/sync), built on the views of sql/verification_views.sql and sql/reconciler_views.sql.
// Everything is set-based (hash joins and aggregates over whole tables, no query per row), runs in one
// REPEATABLE READ READ ONLY transaction so that every number of one answer comes from the same moment,
// and returns bounded lists (the first N of each kind; counts for the rest).
//
// In flight, not mismatched. With the application writing, some legacy rows are always newer than
// what the sync has applied. A differing row is "in flight" when the newest legacy version of a row
// it depends on has not been applied yet: the row's xmin (the transaction that wrote it) against the
// version held in prestamos_cdc.row_state — a streamed change holds it when it came from that
// transaction, a snapshot row when that transaction was visible to its snapshot; a row gone from the
// legacy table is in flight while the sync still holds it. A loan depends on itself and its payments,
// a payment on itself and its loan. In-flight rows are counted and listed apart and left out of the
// percentages; everything else that differs is a mismatch. (A row written inside a subtransaction has
// the subtransaction's xid as xmin, which the stream does not carry: such a row, if it differs, stays
// "in flight"; cutover re-checks in-flight rows after the sync has caught up and refuses those that
// are still there — see cutover.ts.)
import pg from 'pg';
import type { Metrics } from '../runtime/metrics.ts';
import { slotStatus, type SlotStatus } from '../../connectors/postgres/replication-setup.ts';
import { readPipeline, type PipelineRecord } from '../runtime/control-plane.ts';
import { readLiveState } from './live-state.ts';
import { inTransaction } from '../../connectors/postgres/transaction.ts';
import type { Queryable } from '../runtime/queryable.ts';

/** Upper bound of one verification transaction. */
export const VERIFY_STATEMENT_TIMEOUT_MS = 300_000;
/** Memory per hash join / aggregate of the verification queries: whole-table hash joins stay in memory. */
export const VERIFY_WORK_MEM = '64MB';

/** Runs `fn` in a REPEATABLE READ READ ONLY transaction with a statement timeout. */
export async function readOnlySnapshot<T>(pool: pg.Pool, fn: (client: pg.PoolClient) => Promise<T>, timeoutMs = VERIFY_STATEMENT_TIMEOUT_MS): Promise<T> {
  return inTransaction(
    pool,
    async (client) => {
      await client.query(`SET LOCAL statement_timeout = ${Math.trunc(timeoutMs)}`);
      await client.query(`SET LOCAL work_mem = '${VERIFY_WORK_MEM}'`);
      return fn(client);
    },
    'BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY',
  );
}

// ---- schema objects -------------------------------------------------------------------------------

export interface ObjectCheck {
  name: string;
  present: boolean;
}

const OBJECTS_SQL = `
SELECT name, present FROM (VALUES
  (1, 'table "PrestamoNew"', to_regclass('"PrestamoNew"') IS NOT NULL),
  (2, 'table "PagoPrestamoNew"', to_regclass('"PagoPrestamoNew"') IS NOT NULL),
  (3, 'table capital_movements', to_regclass('capital_movements') IS NOT NULL),
  (4, 'trigger trg_capital_movement_insert', EXISTS (SELECT 1 FROM pg_trigger WHERE tgname = 'trg_capital_movement_insert' AND NOT tgisinternal)),
  (5, 'function update_junta_capital()', to_regprocedure('update_junta_capital()') IS NOT NULL),
  (6, 'function calculate_available_capital(text)', to_regprocedure('calculate_available_capital(text)') IS NOT NULL),
  (7, 'columns "Junta".current_capital, base_capital, available_capital',
      (SELECT count(*) = 3 FROM information_schema.columns
        WHERE table_schema = current_schema() AND table_name = 'Junta' AND column_name IN ('current_capital', 'base_capital', 'available_capital'))),
  (8, 'column "Accion".affects_capital', EXISTS (SELECT 1 FROM information_schema.columns
        WHERE table_schema = current_schema() AND table_name = 'Accion' AND column_name = 'affects_capital')),
  (9, 'column "Multa".affects_capital', EXISTS (SELECT 1 FROM information_schema.columns
        WHERE table_schema = current_schema() AND table_name = 'Multa' AND column_name = 'affects_capital')),
  (10, 'table prestamos_cdc.row_state', to_regclass('prestamos_cdc.row_state') IS NOT NULL),
  (11, 'table prestamos_cdc.rolled_back_loans', to_regclass('prestamos_cdc.rolled_back_loans') IS NOT NULL),
  (12, 'table prestamos_cdc.audit_log', to_regclass('prestamos_cdc.audit_log') IS NOT NULL),
  (13, 'view prestamos_cdc.expected_prestamo_new', to_regclass('prestamos_cdc.expected_prestamo_new') IS NOT NULL),
  (14, 'view prestamos_cdc.expected_pago_new', to_regclass('prestamos_cdc.expected_pago_new') IS NOT NULL),
  (15, 'view prestamos_cdc.ledger_diff', to_regclass('prestamos_cdc.ledger_diff') IS NOT NULL),
  (16, 'view prestamos_cdc.capital_diff', to_regclass('prestamos_cdc.capital_diff') IS NOT NULL),
  (17, 'view prestamos_cdc.prestamo_mismatch', to_regclass('prestamos_cdc.prestamo_mismatch') IS NOT NULL),
  (18, 'view prestamos_read."Prestamo" (read routing)', to_regclass('prestamos_read."Prestamo"') IS NOT NULL),
  (19, 'view prestamos_read."PagoPrestamo" (read routing)', to_regclass('prestamos_read."PagoPrestamo"') IS NOT NULL)
) AS t(pos, name, present) ORDER BY pos`;

export async function checkObjects(db: Queryable): Promise<ObjectCheck[]> {
  const r = await db.query<ObjectCheck>(OBJECTS_SQL);
  return r.rows;
}

// ---- verify ---------------------------------------------------------------------------------------

export interface IdList {
  /** rows that really are missing (or extra): the sync holds the legacy version, the new table does not agree */
  count: number;
  ids: string[];
  /** rows whose newest legacy change is not applied yet (not yet migrated, or on its way) */
  inFlight: number;
  inFlightIds: string[];
}

export interface VerifyReport {
  ok: boolean;
  checkedAt: string;
  objects: ObjectCheck[];
  counts: {
    legacy: { Junta: number; Prestamo: number; PagoPrestamo: number; Accion: number; Multa: number };
    expected: { PrestamoNew: number; PagoPrestamoNew: number };
    new: { PrestamoNew: number; PagoPrestamoNew: number; capital_movements: number };
    rolledBackLoans: number;
  } | null;
  missing: { loans: IdList; payments: IdList } | null;
  extra: { loans: IdList; payments: IdList } | null;
  pipeline: PipelineRecord | null;
  publication: { name: string; exists: boolean };
  slot: SlotStatus & { name: string };
  /** end-to-end lag of the running syncs (null: none runs), and WAL the slot keeps */
  lag: { seconds: number | null; syncsRunning: number; slotRetainedWalBytes: number };
  problems: string[];
}

const num = (v: unknown) => Number(v ?? 0);

async function idList(db: Queryable, sql: string, limit: number): Promise<IdList> {
  // `sql` selects (id, in_flight) for the candidate rows.
  const r = await db.query<{ n: string; f: string; ids: string[] | null; fids: string[] | null }>(
    `WITH c AS MATERIALIZED (${sql})
     SELECT (SELECT count(*) FROM c WHERE NOT in_flight)::text AS n,
            (SELECT count(*) FROM c WHERE in_flight)::text AS f,
            ARRAY(SELECT id FROM c WHERE NOT in_flight ORDER BY id LIMIT $1) AS ids,
            ARRAY(SELECT id FROM c WHERE in_flight ORDER BY id LIMIT $1) AS fids`,
    [limit],
  );
  const x = r.rows[0]!;
  return { count: num(x.n), ids: x.ids ?? [], inFlight: num(x.f), inFlightIds: x.fids ?? [] };
}

// Legacy rows without a shadow row. In flight unless the sync holds their current version.
const MISSING_LOANS = `
  SELECT p.id, NOT coalesce(prestamos_cdc.version_applied(s.lsn, s.xid, s.snapshot, s.deleted, p.xmin), false) AS in_flight
    FROM "Prestamo" p
    LEFT JOIN prestamos_cdc.row_state s ON s.source_table = 'Prestamo' AND s.row_id = p.id
   WHERE NOT EXISTS (SELECT 1 FROM "PrestamoNew" n WHERE n.id = p.id)
     AND NOT EXISTS (SELECT 1 FROM prestamos_cdc.rolled_back_loans r WHERE r.prestamo_id = p.id)`;

const MISSING_PAYMENTS = `
  SELECT pp.id, NOT coalesce(prestamos_cdc.version_applied(s.lsn, s.xid, s.snapshot, s.deleted, pp.xmin), false) AS in_flight
    FROM "PagoPrestamo" pp
    LEFT JOIN prestamos_cdc.row_state s ON s.source_table = 'PagoPrestamo' AND s.row_id = pp.id
   WHERE NOT EXISTS (SELECT 1 FROM "PagoPrestamoNew" n WHERE n.id = pp.id)
     AND NOT EXISTS (SELECT 1 FROM prestamos_cdc.rolled_back_loans r WHERE r.prestamo_id = pp."prestamoId")`;

// Shadow rows without a legacy row (or of a rolled-back loan). In flight while the sync still holds the
// legacy row as existing (its delete has not been applied yet).
const EXTRA_LOANS = `
  SELECT x.id, coalesce(s.lsn IS NOT NULL AND NOT s.deleted, false) AND NOT x.rolled_back AS in_flight
    FROM (SELECT n.id, r.prestamo_id IS NOT NULL AS rolled_back
            FROM "PrestamoNew" n
            LEFT JOIN "Prestamo" p ON p.id = n.id
            LEFT JOIN prestamos_cdc.rolled_back_loans r ON r.prestamo_id = n.id
           WHERE p.id IS NULL OR r.prestamo_id IS NOT NULL) x
    LEFT JOIN prestamos_cdc.row_state s ON s.source_table = 'Prestamo' AND s.row_id = x.id`;

const EXTRA_PAYMENTS = `
  SELECT x.id, coalesce(s.lsn IS NOT NULL AND NOT s.deleted, false) AND NOT x.rolled_back AS in_flight
    FROM (SELECT n.id, (r1.prestamo_id IS NOT NULL OR r2.prestamo_id IS NOT NULL) AS rolled_back
            FROM "PagoPrestamoNew" n
            LEFT JOIN "PagoPrestamo" pp ON pp.id = n.id
            LEFT JOIN prestamos_cdc.rolled_back_loans r1 ON r1.prestamo_id = n.prestamo_id
            LEFT JOIN prestamos_cdc.rolled_back_loans r2 ON r2.prestamo_id = pp."prestamoId"
           WHERE pp.id IS NULL OR r1.prestamo_id IS NOT NULL OR r2.prestamo_id IS NOT NULL) x
    LEFT JOIN prestamos_cdc.row_state s ON s.source_table = 'PagoPrestamo' AND s.row_id = x.id`;

export interface VerifyOptions {
  slotName: string;
  publicationName: string;
  limit: number;
}

export async function verify(pool: pg.Pool, options: VerifyOptions): Promise<VerifyReport> {
  const live = await readLiveState(pool);
  const report = await readOnlySnapshot(pool, async (db): Promise<Omit<VerifyReport, 'lag'>> => {
    const objects = await checkObjects(db);
    const checkedAt = (await db.query<{ now: string }>('SELECT now()::text AS now')).rows[0]!.now;
    const problems = objects.filter((x) => !x.present).map((x) => `missing ${x.name}`);
    const ready = objects.every((x) => x.present);
    const pipeline = ready ? await readPipeline(db) : null;
    const slotName = pipeline?.slotName ?? options.slotName;
    const publicationName = pipeline?.publication ?? options.publicationName;
    const slot = { name: slotName, ...(await slotStatus(db, slotName)) };
    const pub = await db.query('SELECT 1 FROM pg_publication WHERE pubname = $1', [publicationName]);
    const publication = { name: publicationName, exists: (pub.rowCount ?? 0) > 0 };
    if (pipeline) {
      if (!slot.exists) problems.push(`replication slot "${slotName}" does not exist`);
      if (!publication.exists) problems.push(`publication "${publicationName}" does not exist`);
      if (slot.walStatus === 'lost') problems.push(`replication slot "${slotName}" has lost WAL it needed (wal_status lost): re-sync required`);
    }
    if (!ready) return { ok: false, checkedAt, objects, counts: null, missing: null, extra: null, pipeline, publication, slot, problems };

    const c = (
      await db.query(
        `SELECT (SELECT count(*) FROM "Junta")::text AS junta, (SELECT count(*) FROM "Prestamo")::text AS prestamo,
                (SELECT count(*) FROM "PagoPrestamo")::text AS pago, (SELECT count(*) FROM "Accion")::text AS accion,
                (SELECT count(*) FROM "Multa")::text AS multa,
                (SELECT count(*) FROM "Prestamo" p WHERE NOT EXISTS (SELECT 1 FROM prestamos_cdc.rolled_back_loans r WHERE r.prestamo_id = p.id))::text AS exp_loans,
                (SELECT count(*) FROM "PagoPrestamo" pp WHERE NOT EXISTS (SELECT 1 FROM prestamos_cdc.rolled_back_loans r WHERE r.prestamo_id = pp."prestamoId"))::text AS exp_pagos,
                (SELECT count(*) FROM "PrestamoNew")::text AS new_loans, (SELECT count(*) FROM "PagoPrestamoNew")::text AS new_pagos,
                (SELECT count(*) FROM capital_movements)::text AS movements,
                (SELECT count(*) FROM prestamos_cdc.rolled_back_loans)::text AS rolled_back`,
      )
    ).rows[0]!;
    const missing = { loans: await idList(db, MISSING_LOANS, options.limit), payments: await idList(db, MISSING_PAYMENTS, options.limit) };
    const extra = { loans: await idList(db, EXTRA_LOANS, options.limit), payments: await idList(db, EXTRA_PAYMENTS, options.limit) };
    if (missing.loans.count) problems.push(`${missing.loans.count} loans missing from "PrestamoNew"`);
    if (missing.payments.count) problems.push(`${missing.payments.count} payments missing from "PagoPrestamoNew"`);
    if (extra.loans.count) problems.push(`${extra.loans.count} loans in "PrestamoNew" that the legacy tables do not have`);
    if (extra.payments.count) problems.push(`${extra.payments.count} payments in "PagoPrestamoNew" that the legacy tables do not have`);
    return {
      ok: problems.length === 0,
      checkedAt,
      objects,
      counts: {
        legacy: { Junta: num(c.junta), Prestamo: num(c.prestamo), PagoPrestamo: num(c.pago), Accion: num(c.accion), Multa: num(c.multa) },
        expected: { PrestamoNew: num(c.exp_loans), PagoPrestamoNew: num(c.exp_pagos) },
        new: { PrestamoNew: num(c.new_loans), PagoPrestamoNew: num(c.new_pagos), capital_movements: num(c.movements) },
        rolledBackLoans: num(c.rolled_back),
      },
      missing,
      extra,
      pipeline,
      publication,
      slot,
      problems,
    };
  });
  return { ...report, lag: { seconds: live.lagSeconds, syncsRunning: live.syncs.length, slotRetainedWalBytes: report.slot.retainedWalBytes } };
}

// ---- consistency ----------------------------------------------------------------------------------

export interface FieldDifference {
  field: string;
  legacyColumn: string;
  legacy: string | null;
  expected: string | null;
  new: string | null;
}

export interface RowMismatch {
  id: string;
  problem: 'missing' | 'extra' | 'differs';
  fields: FieldDifference[];
}

export interface CheckSummary {
  /** rows compared: what the legacy rows imply, plus rows of the new table they do not imply */
  total: number;
  matching: number;
  mismatched: number;
  inFlight: number;
  /** matching / (total − inFlight), in percent, floored to 4 decimals (100 only when exact) */
  percent: number;
}

export interface LedgerMismatch {
  type: string;
  rowId: string;
  juntaId: string;
  expectedWorth: string;
  ledgerWorth: string;
}

export interface CapitalDiscrepancy {
  juntaId: string;
  nombre: string | null;
  availableCapital: string;
  calculatedAvailable: string;
  currentCapital: string;
  calculatedCurrent: string;
  availableMinusCurrent: string;
  interestPaidMinusOutstanding: string;
  availableDiffers: boolean;
  currentDiffers: boolean;
  crossCheckBreaks: boolean;
}

export interface ConsistencyReport {
  consistent: boolean;
  checkedAt: string;
  dataMatching: CheckSummary & { loans: CheckSummary; payments: CheckSummary };
  paymentTotals: CheckSummary & { expected: { totalPaid: string; principalPaid: string; interestPaid: string; registeredPayments: string }; new: { totalPaid: string; principalPaid: string; interestPaid: string; registeredPayments: string } };
  statusConsistency: CheckSummary & { byStatus: { status: string; expected: number; new: number }[] };
  relationships: {
    orphanPayments: { count: number; ids: string[]; inFlight: number };
    paymentsWithoutSplit: number;
    loansOfUnknownJunta: { count: number; ids: string[] };
    movements: { total: number; prestamo: number; pago: number; accion: number; multa: number; ofUnknownJunta: number };
  };
  ledger: { mismatched: number; inFlight: number; first: LedgerMismatch[] };
  capital: {
    juntas: number;
    discrepancies: number;
    first: CapitalDiscrepancy[];
    anomalies: { loansWithNegativeOutstanding: number; ids: string[] };
  };
  mismatches: { loans: RowMismatch[]; payments: RowMismatch[] };
  inFlight: { total: number; loans: string[]; payments: string[]; ledger: string[] };
}

export interface ConsistencyOptions {
  limit: number;
  /** in-flight keys to collect (for cutover's re-check), per kind */
  inFlightKeys?: number;
  metrics?: Metrics;
}

// The loans that differ, each classified (see the header). `source` selects the rows of
// prestamos_cdc.loan_comparison to look at (all of them, or those of a slice).
const loanClassified = (source: string) => `
  WITH j AS MATERIALIZED (${source}),
  m AS MATERIALIZED (SELECT id, problem, fields FROM j WHERE problem IS NOT NULL),
  own AS (
    SELECT m.id FROM m
      LEFT JOIN "Prestamo" p ON p.id = m.id
      LEFT JOIN prestamos_cdc.row_state s ON s.source_table = 'Prestamo' AND s.row_id = m.id
     WHERE CASE WHEN p.id IS NULL THEN coalesce(s.lsn IS NOT NULL AND NOT s.deleted, false)
                ELSE NOT coalesce(prestamos_cdc.version_applied(s.lsn, s.xid, s.snapshot, s.deleted, p.xmin), false) END),
  pays AS (
    SELECT pp."prestamoId" AS id FROM "PagoPrestamo" pp
      LEFT JOIN prestamos_cdc.row_state s ON s.source_table = 'PagoPrestamo' AND s.row_id = pp.id
     WHERE pp."prestamoId" IN (SELECT id FROM m)
       AND NOT coalesce(prestamos_cdc.version_applied(s.lsn, s.xid, s.snapshot, s.deleted, pp.xmin), false)),
  shadow_pays AS (
    SELECT n.prestamo_id AS id FROM "PagoPrestamoNew" n
      LEFT JOIN "PagoPrestamo" pp ON pp.id = n.id
      LEFT JOIN prestamos_cdc.row_state s ON s.source_table = 'PagoPrestamo' AND s.row_id = n.id
     WHERE n.prestamo_id IN (SELECT id FROM m)
       AND CASE WHEN pp.id IS NULL THEN coalesce(s.lsn IS NOT NULL AND NOT s.deleted, false)
                ELSE NOT coalesce(prestamos_cdc.version_applied(s.lsn, s.xid, s.snapshot, s.deleted, pp.xmin), false) END)
  , c AS MATERIALIZED (
  SELECT m.id, m.problem, m.fields,
         NOT EXISTS (SELECT 1 FROM prestamos_cdc.rolled_back_loans r WHERE r.prestamo_id = m.id)
         AND (m.id IN (SELECT id FROM own) OR m.id IN (SELECT id FROM pays) OR m.id IN (SELECT id FROM shadow_pays)) AS in_flight
    FROM m)`;

const paymentClassified = (source: string) => `
  WITH j AS MATERIALIZED (SELECT id, problem, fields, has_expected FROM (${source}) pc),
  m AS MATERIALIZED (SELECT id, problem, fields FROM j WHERE problem IS NOT NULL),
  c AS MATERIALIZED (
  SELECT m.id, m.problem, m.fields,
         NOT EXISTS (SELECT 1 FROM prestamos_cdc.rolled_back_loans r WHERE r.prestamo_id IN (pp."prestamoId", n.prestamo_id))
         AND (CASE WHEN pp.id IS NULL THEN coalesce(s.lsn IS NOT NULL AND NOT s.deleted, false)
                   ELSE NOT coalesce(prestamos_cdc.version_applied(s.lsn, s.xid, s.snapshot, s.deleted, pp.xmin), false) END
              OR (pp.id IS NOT NULL AND NOT coalesce(prestamos_cdc.version_applied(ls.lsn, ls.xid, ls.snapshot, ls.deleted, p.xmin), false))) AS in_flight
    FROM m
    LEFT JOIN "PagoPrestamo" pp ON pp.id = m.id
    LEFT JOIN "PagoPrestamoNew" n ON n.id = m.id
    LEFT JOIN prestamos_cdc.row_state s ON s.source_table = 'PagoPrestamo' AND s.row_id = m.id
    LEFT JOIN "Prestamo" p ON p.id = pp."prestamoId"
    LEFT JOIN prestamos_cdc.row_state ls ON ls.source_table = 'Prestamo' AND ls.row_id = pp."prestamoId")`;

const ledgerClassified = (source: string) => `
  WITH m AS MATERIALIZED (SELECT type, row_id, junta_id, expected_worth, ledger_worth FROM (${source}) ld)
  SELECT m.type, m.row_id, m.junta_id, m.expected_worth::text, m.ledger_worth::text,
         CASE
           WHEN m.type = 'PRESTAMO' AND EXISTS (SELECT 1 FROM prestamos_cdc.rolled_back_loans r WHERE r.prestamo_id = m.row_id) THEN false
           WHEN m.type = 'PAGO' AND EXISTS (SELECT 1 FROM prestamos_cdc.rolled_back_loans r
                                             WHERE r.prestamo_id IN (pp."prestamoId", (SELECT n.prestamo_id FROM "PagoPrestamoNew" n WHERE n.id = m.row_id))) THEN false
           WHEN coalesce(p.id, pp.id, a.id, f.id) IS NULL THEN coalesce(s.lsn IS NOT NULL AND NOT s.deleted, false)
           ELSE NOT coalesce(prestamos_cdc.version_applied(s.lsn, s.xid, s.snapshot, s.deleted, coalesce(p.xmin, pp.xmin, a.xmin, f.xmin)), false)
                OR (pp.id IS NOT NULL AND NOT coalesce(prestamos_cdc.version_applied(ls.lsn, ls.xid, ls.snapshot, ls.deleted, pl.xmin), false))
         END AS in_flight
    FROM m
    LEFT JOIN "Prestamo" p ON m.type = 'PRESTAMO' AND p.id = m.row_id
    LEFT JOIN "PagoPrestamo" pp ON m.type = 'PAGO' AND pp.id = m.row_id
    LEFT JOIN "Prestamo" pl ON pl.id = pp."prestamoId"
    LEFT JOIN "Accion" a ON m.type = 'ACCION' AND a.id = m.row_id
    LEFT JOIN "Multa" f ON m.type = 'MULTA' AND f.id = m.row_id
    LEFT JOIN prestamos_cdc.row_state s
           ON s.source_table = CASE m.type WHEN 'PRESTAMO' THEN 'Prestamo' WHEN 'PAGO' THEN 'PagoPrestamo' WHEN 'ACCION' THEN 'Accion' ELSE 'Multa' END
          AND s.row_id = m.row_id
    LEFT JOIN prestamos_cdc.row_state ls ON ls.source_table = 'Prestamo' AND ls.row_id = pp."prestamoId"`;

// Payments whose loan is not in the new tables. In flight while the loan's legacy version is not applied.
const orphansClassified = (paymentFilter: string) => `
  SELECT n.id,
         p.id IS NOT NULL
         AND NOT EXISTS (SELECT 1 FROM prestamos_cdc.rolled_back_loans r WHERE r.prestamo_id = n.prestamo_id)
         AND NOT coalesce(prestamos_cdc.version_applied(s.lsn, s.xid, s.snapshot, s.deleted, p.xmin), false) AS in_flight
    FROM "PagoPrestamoNew" n
    LEFT JOIN "Prestamo" p ON p.id = n.prestamo_id
    LEFT JOIN prestamos_cdc.row_state s ON s.source_table = 'Prestamo' AND s.row_id = n.prestamo_id
   WHERE NOT EXISTS (SELECT 1 FROM "PrestamoNew" l WHERE l.id = n.prestamo_id) AND ${paymentFilter}`;

/**
 * A range of junta ids: `from` inclusive ('' is the first id there can be), `to` exclusive (null: to
 * the end). Everything of a junta — its loans and their payments in both tables, its ledger, its
 * shares and fines, its capital and cross-check — is keyed by its id, so the ranges of one cycle
 * cover every row that belongs to a junta id, whether the "Junta" row exists or not.
 */
export interface JuntaRange {
  from: string;
  to: string | null;
}

/** What the consistency queries look at: the sources of the compared rows, and filters for the counts. */
interface Scope {
  /** rows of prestamos_cdc.loan_comparison */
  loans: string;
  /** rows of prestamos_cdc.payment_comparison */
  payments: string;
  /** rows of prestamos_cdc.ledger_diff */
  ledger: string;
  /** rows of prestamos_cdc.capital_diff */
  capital: string;
  /** a condition on a junta id column */
  junta(column: string): string;
  /** a condition on a "PagoPrestamoNew" row of the given alias */
  newPayments(alias: string): string;
}

const WHOLE_DATABASE: Scope = {
  loans: 'SELECT * FROM prestamos_cdc.loan_comparison',
  payments: 'SELECT * FROM prestamos_cdc.payment_comparison',
  ledger: 'SELECT * FROM prestamos_cdc.ledger_diff',
  capital: 'SELECT * FROM prestamos_cdc.capital_diff',
  junta: () => 'true',
  newPayments: () => 'true',
};

// The range's bounds are junta ids read from the database; they are written into the SQL as escaped
// literals so that each query keeps its own parameters (and gets a plan for these bounds).
function rangeScope(range: JuntaRange): Scope {
  const junta = (column: string) => `${column} >= ${pg.escapeLiteral(range.from)}` + (range.to === null ? '' : ` AND ${column} < ${pg.escapeLiteral(range.to)}`);
  const loanIds = `SELECT id FROM "Prestamo" WHERE ${junta('"juntaId"')} UNION SELECT id FROM "PrestamoNew" WHERE ${junta('junta_id')}`;
  // the payments of those loans in both tables, looked up loan by loan (OFFSET 0: never a scan of every payment)
  const paymentIds = `SELECT x.id FROM (${loanIds}) l CROSS JOIN LATERAL (SELECT pp.id FROM "PagoPrestamo" pp WHERE pp."prestamoId" = l.id OFFSET 0) x
                      UNION SELECT x.id FROM (${loanIds}) l CROSS JOIN LATERAL (SELECT np.id FROM "PagoPrestamoNew" np WHERE np.prestamo_id = l.id OFFSET 0) x`;
  return {
    loans: `SELECT * FROM prestamos_cdc.loan_comparison_of(ARRAY(${loanIds}))`,
    payments: `SELECT * FROM prestamos_cdc.payment_comparison_of(ARRAY(${paymentIds}))`,
    // ledger_diff of the range: both sides are keyed by junta, so each is restricted before the join
    ledger: `SELECT coalesce(e.type, w.type) AS type, coalesce(e.row_id, w.row_id) AS row_id, coalesce(e.junta_id, w.junta_id) AS junta_id,
                    coalesce(e.worth, 0) AS expected_worth, coalesce(w.worth, 0) AS ledger_worth
               FROM (SELECT * FROM prestamos_cdc.expected_ledger_worth_each WHERE ${junta('junta_id')}) e
               FULL JOIN (SELECT * FROM prestamos_cdc.ledger_worth WHERE ${junta('junta_id')}) w
                 ON w.type = e.type AND w.row_id = e.row_id AND w.junta_id = e.junta_id
              WHERE coalesce(e.worth, 0) <> coalesce(w.worth, 0)`,
    capital: `SELECT * FROM prestamos_cdc.capital_diff_each WHERE ${junta('junta_id')}`,
    junta,
    newPayments: (alias) => `${alias}.id IN (${paymentIds})`,
  };
}

/** A check's counts and its percentage (matching over settled rows, floored; 100 only when exact). */
export function summary(total: number, mismatched: number, inFlight: number): CheckSummary {
  const settled = total - inFlight;
  const matching = Math.max(0, settled - mismatched);
  let percent = 100;
  if (settled > 0 && matching < settled) percent = Math.floor((matching / settled) * 1_000_000) / 10_000;
  return { total, matching, mismatched, inFlight, percent };
}

const TOTAL_FIELDS = ['total_paid', 'principal_paid', 'interest_paid', 'payments_count', 'outstanding_principal', 'last_payment_at'];

export async function consistency(pool: pg.Pool, options: ConsistencyOptions): Promise<ConsistencyReport> {
  const report = await readOnlySnapshot(pool, (db) => consistencyIn(db, WHOLE_DATABASE, options));
  if (options.metrics) setConsistencyMetrics(options.metrics, report);
  return report;
}

/** The consistency of the juntas of one range of junta ids, in one snapshot (the background verification's unit). */
export async function consistencyOfRange(pool: pg.Pool, range: JuntaRange, options: ConsistencyOptions): Promise<ConsistencyReport> {
  return readOnlySnapshot(pool, (db) => consistencyIn(db, rangeScope(range), options));
}

/** The consistency gauges of /metrics, from a report (whole database, or merged from the slices of a cycle). */
export function setConsistencyMetrics(metrics: Metrics, report: ConsistencyReport): void {
  for (const [check, ratio] of Object.entries(consistencyRatios(report))) metrics.consistencyRatio.set({ check }, ratio);
  metrics.juntasWithCapitalDiscrepancy.set(report.capital.discrepancies);
}

/** The checks of prestamos_cdc_consistency_ratio, each 0..1. */
export const CONSISTENCY_CHECKS = ['data_matching', 'loans', 'payments', 'payment_totals', 'status', 'ledger', 'relationships'] as const;

export function consistencyRatios(report: ConsistencyReport): Record<(typeof CONSISTENCY_CHECKS)[number], number> {
  return {
    data_matching: report.dataMatching.percent / 100,
    loans: report.dataMatching.loans.percent / 100,
    payments: report.dataMatching.payments.percent / 100,
    payment_totals: report.paymentTotals.percent / 100,
    status: report.statusConsistency.percent / 100,
    ledger: report.ledger.mismatched === 0 ? 1 : 0,
    relationships: report.relationships.orphanPayments.count === 0 ? 1 : 0,
  };
}

async function consistencyIn(db: Queryable, scope: Scope, options: ConsistencyOptions): Promise<ConsistencyReport> {
  const keys = options.inFlightKeys ?? options.limit;
  {
    const checkedAt = (await db.query<{ now: string }>('SELECT now()::text AS now')).rows[0]!.now;

    // -- loans: one pass over the set-based comparison (j), its mismatches classified (c)
    const loans = (
      await db.query<{
        mismatched: string; in_flight: string; totals_wrong: string; expected: string; extra: string;
        by_problem: Record<string, number> | null; by_field: Record<string, number> | null;
        first: { id: string; problem: RowMismatch['problem'] }[]; fids: string[]; sums: string | null;
      }>(
        `${loanClassified(scope.loans)}
         SELECT (SELECT count(*) FROM c WHERE NOT in_flight)::text AS mismatched,
                (SELECT count(*) FROM c WHERE NOT in_flight AND c.fields && $3::text[])::text AS totals_wrong,
                (SELECT count(*) FROM c WHERE in_flight)::text AS in_flight,
                (SELECT count(*) FROM j WHERE has_expected)::text AS expected,
                (SELECT count(*) FROM j WHERE NOT has_expected)::text AS extra,
                (SELECT coalesce(sum(expected_total_paid), 0)::numeric(16,2)::text || '|' || coalesce(sum(expected_principal_paid), 0)::numeric(16,2)::text || '|' ||
                        coalesce(sum(expected_interest_paid), 0)::numeric(16,2)::text || '|' || coalesce(sum(expected_payments_count), 0)::text || '|' ||
                        coalesce(sum(new_total_paid), 0)::numeric(16,2)::text || '|' || coalesce(sum(new_principal_paid), 0)::numeric(16,2)::text || '|' ||
                        coalesce(sum(new_interest_paid), 0)::numeric(16,2)::text || '|' || coalesce(sum(new_payments_count), 0)::text FROM j) AS sums,
                (SELECT json_object_agg(problem, n) FROM (SELECT problem, count(*) AS n FROM c WHERE NOT in_flight GROUP BY problem) x) AS by_problem,
                (SELECT json_object_agg(f, n) FROM (SELECT f, count(*) AS n FROM c, unnest(c.fields) f WHERE NOT in_flight GROUP BY f) y) AS by_field,
                (SELECT coalesce(json_agg(z ORDER BY z.id), '[]') FROM (SELECT id, problem FROM c WHERE NOT in_flight ORDER BY id LIMIT $1) z) AS first,
                ARRAY(SELECT id FROM c WHERE in_flight ORDER BY id LIMIT $2) AS fids`,
        [options.limit, keys, TOTAL_FIELDS],
      )
    ).rows[0]!;

    // -- payments: one pass over the set-based comparison (j), its mismatches classified (c)
    const pays = (
      await db.query<{ mismatched: string; in_flight: string; expected: string; extra: string; first: { id: string; problem: RowMismatch['problem'] }[]; fids: string[] }>(
        `${paymentClassified(scope.payments)}
         SELECT (SELECT count(*) FROM c WHERE NOT in_flight)::text AS mismatched,
                (SELECT count(*) FROM c WHERE in_flight)::text AS in_flight,
                (SELECT count(*) FROM j WHERE has_expected)::text AS expected,
                (SELECT count(*) FROM j WHERE NOT has_expected)::text AS extra,
                (SELECT coalesce(json_agg(z ORDER BY z.id), '[]') FROM (SELECT id, problem FROM c WHERE NOT in_flight ORDER BY id LIMIT $1) z) AS first,
                ARRAY(SELECT id FROM c WHERE in_flight ORDER BY id LIMIT $2) AS fids`,
        [options.limit, keys],
      )
    ).rows[0]!;

    // -- payment totals (sums of both sides, from the loan pass) and status, per status
    const [eTotal, ePrincipal, eInterest, eCount, nTotal, nPrincipal, nInterest, nCount] = (loans.sums ?? '0.00|0.00|0.00|0|0.00|0.00|0.00|0').split('|');
    const byStatus = (
      await db.query<{ status: string; expected: string; new: string }>(
        `SELECT coalesce(e.status, n.status, '(unmapped)') AS status, coalesce(e.c, 0)::text AS expected, coalesce(n.c, 0)::text AS new
           FROM (SELECT prestamos_cdc.map_loan_status(estado) AS status, sum(c) AS c FROM
                   (SELECT p.estado, count(*) AS c FROM "Prestamo" p
                     WHERE NOT EXISTS (SELECT 1 FROM prestamos_cdc.rolled_back_loans r WHERE r.prestamo_id = p.id) AND ${scope.junta('p."juntaId"')} GROUP BY p.estado) x
                  GROUP BY 1) e
           FULL JOIN (SELECT status, count(*) AS c FROM "PrestamoNew" pn WHERE ${scope.junta('pn.junta_id')} GROUP BY status) n ON n.status = e.status
          ORDER BY 1`,
      )
    ).rows;

    // -- relationships
    const orphans = (
      await db.query<{ n: string; f: string; ids: string[] }>(
        `WITH c AS MATERIALIZED (${orphansClassified(scope.newPayments('n'))})
         SELECT (SELECT count(*) FROM c WHERE NOT in_flight)::text AS n, (SELECT count(*) FROM c WHERE in_flight)::text AS f,
                ARRAY(SELECT id FROM c WHERE NOT in_flight ORDER BY id LIMIT $1) AS ids`,
        [options.limit],
      )
    ).rows[0]!;
    const rel = (
      await db.query(
        `WITH unknown_junta AS MATERIALIZED (SELECT n.id FROM "PrestamoNew" n LEFT JOIN "Junta" j ON j.id = n.junta_id WHERE j.id IS NULL AND ${scope.junta('n.junta_id')})
         SELECT (SELECT count(*) FROM "PagoPrestamoNew" ns WHERE (ns.principal_amount IS NULL OR ns.interest_amount IS NULL) AND ${scope.newPayments('ns')})::text AS no_split,
                (SELECT count(*) FROM unknown_junta)::text AS unknown_junta,
                ARRAY(SELECT id FROM unknown_junta ORDER BY id LIMIT $1) AS unknown_junta_ids,
                m.*
           FROM (SELECT count(*)::text AS total,
                        count(*) FILTER (WHERE mv.type = 'PRESTAMO')::text AS prestamo,
                        count(*) FILTER (WHERE mv.type = 'PAGO')::text AS pago,
                        count(*) FILTER (WHERE mv.type = 'ACCION')::text AS accion,
                        count(*) FILTER (WHERE mv.type = 'MULTA')::text AS multa,
                        count(*) FILTER (WHERE j.id IS NULL)::text AS unknown_junta_movements
                   FROM capital_movements mv LEFT JOIN "Junta" j ON j.id = mv.junta_id WHERE ${scope.junta('mv.junta_id')}) m`,
        [options.limit],
      )
    ).rows[0]!;

    // -- ledger
    const ledger = (
      await db.query<{ n: string; f: string; first: LedgerMismatch[]; fids: string[] }>(
        `WITH c AS MATERIALIZED (${ledgerClassified(scope.ledger)})
         SELECT (SELECT count(*) FROM c WHERE NOT in_flight)::text AS n, (SELECT count(*) FROM c WHERE in_flight)::text AS f,
                (SELECT coalesce(json_agg(z ORDER BY z."type", z."rowId", z."juntaId"), '[]') FROM
                   (SELECT type AS "type", row_id AS "rowId", junta_id AS "juntaId", expected_worth AS "expectedWorth", ledger_worth AS "ledgerWorth"
                      FROM c WHERE NOT in_flight ORDER BY type, row_id, junta_id LIMIT $1) z) AS first,
                ARRAY(SELECT type || ':' || row_id FROM c WHERE in_flight ORDER BY 1 LIMIT $2) AS fids`,
        [options.limit, keys],
      )
    ).rows[0]!;

    // -- capital, per junta: stored against calculate_available_capital() / calculate_current_capital(),
    //    and the cross-check of SPEC §3
    const capital = (
      await db.query<{ juntas: string; n: string; first: CapitalDiscrepancy[]; neg: string; neg_ids: string[] }>(
        `WITH d AS MATERIALIZED (${scope.capital})
         SELECT (SELECT count(*) FROM "Junta" jj WHERE ${scope.junta('jj.id')})::text AS juntas,
                (SELECT count(*) FROM d)::text AS n,
                (SELECT coalesce(json_agg(z ORDER BY z."juntaId"), '[]') FROM
                   (SELECT d.junta_id AS "juntaId", d.nombre,
                           d.available_capital::text AS "availableCapital", calculate_available_capital(d.junta_id)::text AS "calculatedAvailable",
                           d.current_capital::text AS "currentCapital", calculate_current_capital(d.junta_id)::text AS "calculatedCurrent",
                           d.capital_difference::text AS "availableMinusCurrent", d.loans_difference::text AS "interestPaidMinusOutstanding",
                           d.available_differs AS "availableDiffers", d.current_differs AS "currentDiffers", d.cross_check_breaks AS "crossCheckBreaks"
                      FROM d ORDER BY d.junta_id LIMIT $1) z) AS first,
                (SELECT count(*) FROM "PrestamoNew" WHERE outstanding_principal < 0 AND ${scope.junta('junta_id')})::text AS neg,
                ARRAY(SELECT id FROM "PrestamoNew" WHERE outstanding_principal < 0 AND ${scope.junta('junta_id')} ORDER BY id LIMIT $1) AS neg_ids`,
        [options.limit],
      )
    ).rows[0]!;

    // -- the first mismatches, field by field (legacy, expected, new)
    const loanIds = loans.first.map((x) => x.id);
    const payIds = pays.first.map((x) => x.id);
    const loanFields = loanIds.length ? await fieldComparison(db, 'loan', loanIds) : new Map<string, FieldDifference[]>();
    const payFields = payIds.length ? await fieldComparison(db, 'payment', payIds) : new Map<string, FieldDifference[]>();

    const loanMismatched = num(loans.mismatched);
    const loanInFlight = num(loans.in_flight);
    const loanTotal = num(loans.expected) + num(loans.extra);
    const payMismatched = num(pays.mismatched);
    const payInFlight = num(pays.in_flight);
    const payTotal = num(pays.expected) + num(pays.extra);
    const byField = loans.by_field ?? {};
    const byProblem = loans.by_problem ?? {};
    const missingOrExtra = num(byProblem.missing) + num(byProblem.extra);
    // a loan whose totals differ, or that is missing or extra, does not have accurate payment totals
    const totalsWrong = num(loans.totals_wrong) + missingOrExtra;
    const statusWrong = num(byField.status) + missingOrExtra;
    const dataMatching = summary(loanTotal + payTotal, loanMismatched + payMismatched, loanInFlight + payInFlight);
    const ledgerMismatched = num(ledger.n);
    const capitalDiscrepancies = num(capital.n);
    const orphanCount = num(orphans.n);
    const result: ConsistencyReport = {
      consistent: loanMismatched === 0 && payMismatched === 0 && ledgerMismatched === 0 && capitalDiscrepancies === 0 && orphanCount === 0,
      checkedAt,
      dataMatching: { ...dataMatching, loans: summary(loanTotal, loanMismatched, loanInFlight), payments: summary(payTotal, payMismatched, payInFlight) },
      paymentTotals: {
        ...summary(loanTotal, Math.min(totalsWrong, loanMismatched), loanInFlight),
        expected: { totalPaid: eTotal!, principalPaid: ePrincipal!, interestPaid: eInterest!, registeredPayments: eCount! },
        new: { totalPaid: nTotal!, principalPaid: nPrincipal!, interestPaid: nInterest!, registeredPayments: nCount! },
      },
      statusConsistency: {
        ...summary(loanTotal, Math.min(statusWrong, loanMismatched), loanInFlight),
        byStatus: byStatus.map((s) => ({ status: s.status, expected: num(s.expected), new: num(s.new) })),
      },
      relationships: {
        orphanPayments: { count: orphanCount, ids: orphans.ids, inFlight: num(orphans.f) },
        paymentsWithoutSplit: num(rel.no_split),
        loansOfUnknownJunta: { count: num(rel.unknown_junta), ids: rel.unknown_junta_ids },
        movements: { total: num(rel.total), prestamo: num(rel.prestamo), pago: num(rel.pago), accion: num(rel.accion), multa: num(rel.multa), ofUnknownJunta: num(rel.unknown_junta_movements) },
      },
      ledger: { mismatched: ledgerMismatched, inFlight: num(ledger.f), first: ledger.first },
      capital: {
        juntas: num(capital.juntas),
        discrepancies: capitalDiscrepancies,
        first: capital.first,
        anomalies: { loansWithNegativeOutstanding: num(capital.neg), ids: capital.neg_ids },
      },
      mismatches: {
        loans: loans.first.map((x) => ({ id: x.id, problem: x.problem, fields: loanFields.get(x.id) ?? [] })),
        payments: pays.first.map((x) => ({ id: x.id, problem: x.problem, fields: payFields.get(x.id) ?? [] })),
      },
      inFlight: { total: loanInFlight + payInFlight + num(ledger.f), loans: loans.fids, payments: pays.fids, ledger: ledger.fids },
    };
    return result;
  }
}

interface FieldRow {
  id: string;
  field: string;
  legacy_column: string;
  legacy_value: string | null;
  expected: string | null;
  new_value: string | null;
  matches: boolean;
}

/** Differing fields of the given loans or payments, with legacy, expected and new values. */
async function fieldComparison(db: Queryable, kind: 'loan' | 'payment', ids: string[]): Promise<Map<string, FieldDifference[]>> {
  const fn = kind === 'loan' ? 'prestamos_cdc.loan_field_comparison' : 'prestamos_cdc.payment_field_comparison';
  const r = await db.query<FieldRow>(`SELECT * FROM ${fn}($1::text[]) WHERE NOT matches`, [ids]);
  const out = new Map<string, FieldDifference[]>();
  for (const x of r.rows) {
    let list = out.get(x.id);
    if (!list) out.set(x.id, (list = []));
    list.push({ field: x.field, legacyColumn: x.legacy_column, legacy: x.legacy_value, expected: x.expected, new: x.new_value });
  }
  return out;
}

// ---- one loan -------------------------------------------------------------------------------------

export interface FieldComparison extends FieldDifference {
  matches: boolean;
}

export interface LoanComparison {
  prestamoId: string;
  exact: boolean;
  inLegacy: boolean;
  inNew: boolean;
  rolledBack: { at: string; by: string } | null;
  /** a change of the loan or one of its payments is committed on the source and not yet applied */
  inFlight: boolean;
  loan: { matches: boolean; fields: FieldComparison[] };
  payments: { id: string; inLegacy: boolean; inNew: boolean; matches: boolean; fields: FieldComparison[] }[];
  /** payments listed at most; more were not compared */
  paymentsTruncated: boolean;
  ledger: { type: 'PRESTAMO' | 'PAGO'; rowId: string; juntaId: string; expectedWorth: string; ledgerWorth: string; matches: boolean }[];
}

export const MAX_PAYMENTS_COMPARED = 1000;

/** The field-by-field comparison of one loan, its payments and its ledger worth (in one snapshot). */
export async function compareLoan(pool: pg.Pool, id: string): Promise<LoanComparison> {
  return readOnlySnapshot(pool, async (db) => {
    const state = (
      await db.query<{ in_legacy: boolean; in_new: boolean; rb_at: string | null; rb_by: string | null; in_flight: boolean }>(
        `SELECT EXISTS (SELECT 1 FROM "Prestamo" WHERE id = $1) AS in_legacy,
                EXISTS (SELECT 1 FROM "PrestamoNew" WHERE id = $1) AS in_new,
                (SELECT rolled_back_at::text FROM prestamos_cdc.rolled_back_loans WHERE prestamo_id = $1) AS rb_at,
                (SELECT rolled_back_by FROM prestamos_cdc.rolled_back_loans WHERE prestamo_id = $1) AS rb_by,
                prestamos_cdc.loan_in_flight($1) AS in_flight`,
        [id],
      )
    ).rows[0]!;
    const loanRows = await db.query<FieldRow>(`SELECT * FROM prestamos_cdc.loan_field_comparison(ARRAY[$1]::text[])`, [id]);
    const payIds = await db.query<{ id: string; in_legacy: boolean; in_new: boolean }>(
      `SELECT id, bool_or(l) AS in_legacy, bool_or(n) AS in_new FROM (
          SELECT id, true AS l, false AS n FROM "PagoPrestamo" WHERE "prestamoId" = $1
          UNION ALL
          SELECT id, false, true FROM "PagoPrestamoNew" WHERE prestamo_id = $1) x
        GROUP BY id ORDER BY id LIMIT $2`,
      [id, MAX_PAYMENTS_COMPARED + 1],
    );
    const truncated = payIds.rows.length > MAX_PAYMENTS_COMPARED;
    const payments = payIds.rows.slice(0, MAX_PAYMENTS_COMPARED);
    const ids = payments.map((p) => p.id);
    const payRows = ids.length ? (await db.query<FieldRow>(`SELECT * FROM prestamos_cdc.payment_field_comparison($1::text[])`, [ids])).rows : [];
    const ledger = await db.query<{ type: 'PRESTAMO' | 'PAGO'; row_id: string; junta_id: string; expected: string; ledger: string }>(
      `WITH e AS (SELECT type, row_id, junta_id, worth FROM prestamos_cdc.expected_ledger_worth
                   WHERE (type = 'PRESTAMO' AND row_id = $1) OR (type = 'PAGO' AND row_id = ANY($2::text[]))),
            w AS (SELECT m.type, coalesce(m.pago_id, m.prestamo_id) AS row_id, m.junta_id,
                         sum(CASE m.direction WHEN 'IN' THEN m.amount ELSE -m.amount END) AS worth
                    FROM capital_movements m
                   WHERE (m.type = 'PRESTAMO' AND m.prestamo_id = $1) OR (m.type = 'PAGO' AND m.pago_id = ANY($2::text[]))
                   GROUP BY 1, 2, 3)
       SELECT coalesce(e.type, w.type) AS type, coalesce(e.row_id, w.row_id) AS row_id, coalesce(e.junta_id, w.junta_id) AS junta_id,
              coalesce(e.worth, 0)::numeric(14,2)::text AS expected, coalesce(w.worth, 0)::numeric(14,2)::text AS ledger
         FROM e FULL JOIN w ON w.type = e.type AND w.row_id = e.row_id AND w.junta_id = e.junta_id
        WHERE coalesce(e.worth, 0) <> 0 OR coalesce(w.worth, 0) <> 0
        ORDER BY 1 DESC, 2, 3`,
      [id, ids],
    );
    const toField = (x: FieldRow): FieldComparison => ({ field: x.field, legacyColumn: x.legacy_column, legacy: x.legacy_value, expected: x.expected, new: x.new_value, matches: x.matches });
    const loanFields = loanRows.rows.map(toField);
    const payList = payments.map((p) => {
      const fields = payRows.filter((r) => r.id === p.id).map(toField);
      return { id: p.id, inLegacy: p.in_legacy, inNew: p.in_new, matches: fields.every((f) => f.matches), fields };
    });
    const ledgerList = ledger.rows.map((x) => ({ type: x.type, rowId: x.row_id, juntaId: x.junta_id, expectedWorth: x.expected, ledgerWorth: x.ledger, matches: x.expected === x.ledger }));
    const loanMatches = loanFields.every((f) => f.matches);
    return {
      prestamoId: id,
      exact: loanMatches && payList.every((p) => p.matches) && ledgerList.every((l) => l.matches) && !truncated,
      inLegacy: state.in_legacy,
      inNew: state.in_new,
      rolledBack: state.rb_at ? { at: state.rb_at, by: state.rb_by ?? '' } : null,
      inFlight: state.in_flight,
      loan: { matches: loanMatches, fields: loanFields },
      payments: payList,
      paymentsTruncated: truncated,
      ledger: ledgerList,
    };
  });
}
