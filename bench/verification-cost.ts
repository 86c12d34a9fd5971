// Cost of the background verification on a large database: N loans (default 1,000,000) with about 1.4
// payments each, shares and fines, in juntas of 500 loans, the new tables and the ledger filled from
// what the legacy rows imply (set-based, as a finished migration would hold them). Then, timed: one
// range of VERIFY_SLICE_LOANS (5,000) loans, one pass of VERIFY_LOANS_PER_PASS (50,000), and the
// whole-database check (GET /consistency?fresh=true, cutover) for comparison. Writes
// bench/results/verification.json.
//   node bench/verification-cost.ts [loans]
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { startServer, createDatabase, openPool, machineInfo, RESULTS_DIR } from './support.ts';
import { consistency, consistencyOfRange } from '../services/reconciler/verification.ts';
import { nextJuntaRange } from '../services/reconciler/background-verifier.ts';

const loans = Number(process.argv[2] ?? 1_000_000);
const juntas = Math.max(1, Math.round(loans / 500));
const SLICE = 5_000;
const PASS = 50_000;

const server = await startServer({ shared_buffers: '256MB' });
const timings: Record<string, unknown> = {};
try {
  const url = await createDatabase(server, 'verify_cost', { migrated: true });
  const pool = openPool(url, 4);
  const t = async <T>(name: string, fn: () => Promise<T>): Promise<T> => {
    const t0 = Date.now();
    const r = await fn();
    timings[name] = Date.now() - t0;
    console.log(`${name}: ${Date.now() - t0} ms`);
    return r;
  };
  await t('generate legacy rows', async () => {
    await pool.query(`INSERT INTO "Junta" (id, nombre, "createdAt", "updatedAt") SELECT 'j' || lpad(g::text, 6, '0'), 'Junta ' || g, now(), now() FROM generate_series(1, $1::int) g`, [juntas]);
    await pool.query(
      `INSERT INTO "Prestamo" (id, "juntaId", "miembroId", monto, "tasaInteres", cuotas, estado, "fechaDesembolso", observaciones, "createdAt", "updatedAt")
       SELECT 'p' || lpad(g::text, 8, '0'), 'j' || lpad((1 + g % $2::int)::text, 6, '0'), 'm' || (g % 997), (10000 + (g::bigint * 7919) % 2000000)::numeric / 100, 0.0250, 1 + g % 24,
              (ARRAY['PENDIENTE','APROBADO','DESEMBOLSADO','PAGADO','VENCIDO','CANCELADO'])[1 + g % 6],
              CASE WHEN g % 6 IN (2, 3, 4) THEN now()::timestamp(3) END, CASE WHEN g % 10 = 0 THEN 'nota ' || g END, now(), now()
         FROM generate_series(1, $1::int) g`,
      [loans, juntas],
    );
    await pool.query(
      `INSERT INTO "PagoPrestamo" (id, "prestamoId", monto, fecha, anulado, "createdAt", "updatedAt")
       SELECT 'g' || lpad(g::text, 8, '0') || '-' || k, 'p' || lpad(g::text, 8, '0'), (1000 + (g::bigint * 104729 + k) % 90000)::numeric / 100, now()::timestamp(3), (g + k) % 17 = 0, now(), now()
         FROM generate_series(1, $1::int) g CROSS JOIN LATERAL generate_series(1, CASE WHEN g % 5 < 2 THEN 0 WHEN g % 5 < 4 THEN 2 ELSE 3 END) k`,
      [loans],
    );
    await pool.query(
      `INSERT INTO "Accion" (id, "juntaId", "miembroId", cantidad, "valorUnitario", fecha, "createdAt", "updatedAt")
       SELECT 'a' || g, 'j' || lpad((1 + g % $1::int)::text, 6, '0'), 'm' || g, 1 + g % 5, 50.00, now(), now(), now() FROM generate_series(1, $1::int * 20) g`,
      [juntas],
    );
    await pool.query(
      `INSERT INTO "Multa" (id, "juntaId", "miembroId", monto, motivo, pagada, fecha, "createdAt", "updatedAt")
       SELECT 'f' || g, 'j' || lpad((1 + g % $1::int)::text, 6, '0'), 'm' || g, 10.00, 'tarde', g % 3 = 0, now(), now(), now() FROM generate_series(1, $1::int * 10) g`,
      [juntas],
    );
  });
  await t('fill the new tables and the ledger from the legacy rows', async () => {
    await pool.query(`INSERT INTO "PrestamoNew" (id, junta_id, member_id, principal, monthly_interest_rate, installments, status, disbursed_at, due_at, notes, total_paid, principal_paid, interest_paid, outstanding_principal, payments_count, last_payment_at, created_at, updated_at, source_lsn)
                      SELECT id, junta_id, member_id, principal, monthly_interest_rate, installments, status, disbursed_at, due_at, notes, total_paid, principal_paid, interest_paid, outstanding_principal, payments_count, last_payment_at, created_at, updated_at, '0/1' FROM prestamos_cdc.expected_prestamo_set`);
    await pool.query(`INSERT INTO "PagoPrestamoNew" (id, prestamo_id, amount, principal_amount, interest_amount, paid_at, status, created_at, updated_at, source_lsn)
                      SELECT id, prestamo_id, amount, principal_amount, interest_amount, paid_at, status, created_at, updated_at, '0/1' FROM prestamos_cdc.expected_pago_new`);
    await pool.query(`INSERT INTO capital_movements (junta_id, type, direction, amount, description, prestamo_id, pago_id, accion_id, multa_id)
                      SELECT e.junta_id, e.type, CASE WHEN e.worth > 0 THEN 'IN' ELSE 'OUT' END, abs(e.worth), 'bench',
                             CASE WHEN e.type = 'PRESTAMO' THEN e.row_id WHEN e.type = 'PAGO' THEN pp."prestamoId" END,
                             CASE WHEN e.type = 'PAGO' THEN e.row_id END, CASE WHEN e.type = 'ACCION' THEN e.row_id END, CASE WHEN e.type = 'MULTA' THEN e.row_id END
                        FROM prestamos_cdc.expected_ledger_worth e LEFT JOIN "PagoPrestamo" pp ON e.type = 'PAGO' AND pp.id = e.row_id WHERE e.worth <> 0`);
    await pool.query('VACUUM ANALYZE');
  });
  const counts = (await pool.query(`SELECT (SELECT count(*) FROM "Prestamo")::int AS loans, (SELECT count(*) FROM "PagoPrestamo")::int AS payments, (SELECT count(*) FROM capital_movements)::int AS movements, (SELECT count(*) FROM "Junta")::int AS juntas`)).rows[0];
  console.log(counts);
  // warm-up, then the first range, a range in the middle, one pass
  const first = await nextJuntaRange(pool, '', SLICE);
  await consistencyOfRange(pool, first, { limit: 200 });
  const one = await t('one range (5,000 loans)', () => consistencyOfRange(pool, first, { limit: 200 }));
  const middle = await nextJuntaRange(pool, `j${String(Math.round(juntas / 2)).padStart(6, '0')}`, SLICE);
  const mid = await t('one range in the middle (5,000 loans)', () => consistencyOfRange(pool, middle, { limit: 200 }));
  await t('one pass (50,000 loans: 10 ranges)', async () => {
    let from = '';
    let n = 0;
    while (n < PASS) {
      const r = await nextJuntaRange(pool, from, SLICE);
      const rep = await consistencyOfRange(pool, r, { limit: 200 });
      n += rep.dataMatching.loans.total;
      if (r.to === null) break;
      from = r.to;
    }
    timings['pass loans'] = n;
  });
  const whole = await t('whole database (fresh)', () => consistency(pool, { limit: 20 }));
  const result = {
    benchmark: 'verification-cost',
    at: new Date().toISOString(),
    machine: await machineInfo(url),
    counts,
    rangeLoans: [one.dataMatching.loans.total, mid.dataMatching.loans.total],
    consistent: [one.consistent, mid.consistent, whole.consistent],
    timingsMs: timings,
  };
  console.log(JSON.stringify(result, null, 2));
  writeFileSync(path.join(RESULTS_DIR, 'verification.json'), JSON.stringify(result, null, 2) + '\n');
  await pool.end();
} finally {
  await server.stop();
}
