// 3. What the capture costs the application: pgbench write throughput on the legacy tables
//    without capture, with the pipeline running (capture + sync, `run --inline`), and with a dual-write
//    trigger (plpgsql, in the application's transaction) that does the same job.
//
// A server of its own with fsync on (this benchmark is about commits). Each condition writes to its own
// clone of the same seeded database, so that one condition's slot or trigger never touches another's
// writes. The transaction, like an application's payment: insert a payment and touch its loan.
// Two settings: synchronous_commit on (every commit waits for its WAL flush: I/O-bound) and off
// (CPU-bound), switched with ALTER SYSTEM between the two series. Conditions are interleaved per
// repetition to spread the machine's noise over all of them.
import { writeFile, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { generateLegacyData, insertLegacyData } from '../services/testdata/generator.ts';
import {
  startServer, createDatabase, openPool, startMigrationOn, spawnPipeline, pipelineNames, waitSnapshotsApplied, waitFor, consistencyCounts, isConsistent,
  machineInfo, writeResult, atLeast, round, scaled, Cleanup, adminQuery, runPgbench, pgbenchVersion,
  type BenchOptions, type BenchResult, type EmbeddedServer,
} from './support.ts';
import { PLAIN_SQL_MIGRATION } from './snapshot.ts';
import { writeEndMarker, markerApplied } from './workload.ts';

export const PGBENCH_SCRIPT = `\\set n random(1, :nloans)
\\set cents random(1000, 300000)
BEGIN;
INSERT INTO "PagoPrestamo" (id, "prestamoId", monto, fecha, anulado, "createdAt", "updatedAt")
  SELECT 'pb-' || gen_random_uuid(), id, :cents::numeric / 100, now(), false, now(), now() FROM bench.loans WHERE n = :n;
UPDATE "Prestamo" SET "updatedAt" = now() WHERE id = (SELECT id FROM bench.loans WHERE n = :n);
END;
`;

/**
 * The dual-write peer: row triggers on "Prestamo" and "PagoPrestamo" that keep PagoPrestamoNew (split),
 * PrestamoNew (aggregates) and the ledger (append the difference of each touched row's worth) in the
 * application's own transaction, with the derivations of sql/verification_views.sql.
 */
export const DUAL_WRITE_TRIGGER = `
CREATE OR REPLACE FUNCTION bench_sync_pagos(p_loan text, p_pago text) RETURNS void LANGUAGE sql AS $$
  INSERT INTO "PagoPrestamoNew" AS n (id, prestamo_id, amount, principal_amount, interest_amount, paid_at, status, created_at, updated_at, source_lsn)
  SELECT id, prestamo_id, amount, principal_amount, interest_amount, paid_at, status, created_at, updated_at, pg_current_wal_lsn()
    FROM prestamos_cdc.expected_pago_new e
   WHERE (p_pago IS NOT NULL AND e.id = p_pago) OR (p_pago IS NULL AND e.prestamo_id = p_loan)
  ON CONFLICT (id) DO UPDATE SET prestamo_id = EXCLUDED.prestamo_id, amount = EXCLUDED.amount, principal_amount = EXCLUDED.principal_amount,
     interest_amount = EXCLUDED.interest_amount, paid_at = EXCLUDED.paid_at, status = EXCLUDED.status, created_at = EXCLUDED.created_at,
     updated_at = EXCLUDED.updated_at, source_lsn = EXCLUDED.source_lsn, synced_at = now();
$$;

CREATE OR REPLACE FUNCTION bench_sync_loan(p_loan text) RETURNS void LANGUAGE sql AS $$
  DELETE FROM "PrestamoNew" WHERE id = p_loan AND NOT EXISTS (SELECT 1 FROM "Prestamo" WHERE id = p_loan);
  INSERT INTO "PrestamoNew" (id, junta_id, member_id, principal, monthly_interest_rate, installments, status, disbursed_at, due_at, notes,
                             total_paid, principal_paid, interest_paid, outstanding_principal, payments_count, last_payment_at, created_at, updated_at, source_lsn)
  SELECT id, junta_id, member_id, principal, monthly_interest_rate, installments, status, disbursed_at, due_at, notes,
         total_paid, principal_paid, interest_paid, outstanding_principal, payments_count, last_payment_at, created_at, updated_at, pg_current_wal_lsn()
    FROM prestamos_cdc.expected_prestamo_new WHERE id = p_loan
  ON CONFLICT (id) DO UPDATE SET junta_id = EXCLUDED.junta_id, member_id = EXCLUDED.member_id, principal = EXCLUDED.principal,
     monthly_interest_rate = EXCLUDED.monthly_interest_rate, installments = EXCLUDED.installments, status = EXCLUDED.status,
     disbursed_at = EXCLUDED.disbursed_at, due_at = EXCLUDED.due_at, notes = EXCLUDED.notes, total_paid = EXCLUDED.total_paid,
     principal_paid = EXCLUDED.principal_paid, interest_paid = EXCLUDED.interest_paid, outstanding_principal = EXCLUDED.outstanding_principal,
     payments_count = EXCLUDED.payments_count, last_payment_at = EXCLUDED.last_payment_at, created_at = EXCLUDED.created_at,
     updated_at = EXCLUDED.updated_at, source_lsn = EXCLUDED.source_lsn, synced_at = now();
$$;

-- Appends, for the loan (p_pago NULL: the loan and all its payments) or one payment, the difference
-- between what each row is worth now and what the ledger says it is worth, per junta.
CREATE OR REPLACE FUNCTION bench_sync_ledger(p_loan text, p_pago text) RETURNS void LANGUAGE sql AS $$
  INSERT INTO capital_movements (junta_id, type, direction, amount, description, prestamo_id, pago_id, source_lsn)
  SELECT d.junta_id, d.type, CASE WHEN d.delta > 0 THEN 'IN' ELSE 'OUT' END, abs(d.delta), d.type || ' ' || d.row_id || ' dual write',
         d.prestamo_id, CASE WHEN d.type = 'PAGO' THEN d.row_id END, pg_current_wal_lsn()
    FROM (SELECT coalesce(e.type, w.type) AS type, coalesce(e.row_id, w.row_id) AS row_id, coalesce(e.junta_id, w.junta_id) AS junta_id,
                 coalesce(e.prestamo_id, w.prestamo_id) AS prestamo_id, coalesce(e.worth, 0) - coalesce(w.worth, 0) AS delta
            FROM (SELECT 'PRESTAMO'::text AS type, p.id AS row_id, p."juntaId" AS junta_id, p.id AS prestamo_id, -p.monto AS worth
                    FROM "Prestamo" p WHERE p_pago IS NULL AND p.id = p_loan AND p.estado IN ('DESEMBOLSADO', 'PAGADO', 'VENCIDO')
                  UNION ALL
                  SELECT 'PAGO', pp.id, p."juntaId", p.id, pp.monto
                    FROM "PagoPrestamo" pp JOIN "Prestamo" p ON p.id = pp."prestamoId"
                   WHERE NOT pp.anulado AND ((p_pago IS NULL AND pp."prestamoId" = p_loan) OR pp.id = p_pago)) e
            FULL JOIN
                 (SELECT m.type, CASE m.type WHEN 'PRESTAMO' THEN m.prestamo_id ELSE m.pago_id END AS row_id, m.junta_id, max(m.prestamo_id) AS prestamo_id,
                         sum(CASE m.direction WHEN 'IN' THEN m.amount ELSE -m.amount END) AS worth
                    FROM capital_movements m
                   WHERE (p_pago IS NULL AND m.prestamo_id = p_loan) OR (m.pago_id = p_pago)
                   GROUP BY 1, 2, 3) w
              ON w.type = e.type AND w.row_id = e.row_id AND w.junta_id = e.junta_id) d
   WHERE d.delta <> 0;
$$;

CREATE OR REPLACE FUNCTION bench_dual_write() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_TABLE_NAME = 'PagoPrestamo' THEN
    IF TG_OP = 'DELETE' THEN
      DELETE FROM "PagoPrestamoNew" WHERE id = OLD.id;
      PERFORM bench_sync_loan(OLD."prestamoId");
      PERFORM bench_sync_ledger(OLD."prestamoId", OLD.id);
    ELSE
      PERFORM bench_sync_pagos(NEW."prestamoId", NEW.id);
      PERFORM bench_sync_loan(NEW."prestamoId");
      PERFORM bench_sync_ledger(NEW."prestamoId", NEW.id);
      IF TG_OP = 'UPDATE' AND OLD."prestamoId" <> NEW."prestamoId" THEN
        PERFORM bench_sync_loan(OLD."prestamoId");
      END IF;
    END IF;
  ELSE
    IF TG_OP = 'DELETE' THEN
      PERFORM bench_sync_loan(OLD.id);
      PERFORM bench_sync_ledger(OLD.id, NULL);
    ELSE
      IF TG_OP = 'UPDATE' AND (OLD."tasaInteres", OLD.cuotas) IS DISTINCT FROM (NEW."tasaInteres", NEW.cuotas) THEN
        PERFORM bench_sync_pagos(NEW.id, NULL);
      END IF;
      PERFORM bench_sync_loan(NEW.id);
      PERFORM bench_sync_ledger(NEW.id, NULL);
    END IF;
  END IF;
  RETURN NULL;
END $$;

CREATE TRIGGER bench_dual_write_pago AFTER INSERT OR UPDATE OR DELETE ON "PagoPrestamo" FOR EACH ROW EXECUTE FUNCTION bench_dual_write();
CREATE TRIGGER bench_dual_write_prestamo AFTER INSERT OR UPDATE OR DELETE ON "Prestamo" FOR EACH ROW EXECUTE FUNCTION bench_dual_write();
`;

type Condition = 'without' | 'capture' | 'trigger';

export async function sourceWritesBenchmark(o: BenchOptions): Promise<BenchResult> {
  const started = Date.now();
  const cleanup = new Cleanup();
  const params = { juntas: scaled(200, Math.min(1, o.scale), 10), loansPerJunta: 100, clients: 4, threads: 2, seconds: o.seconds, reps: o.reps };
  const notes: string[] = [];
  try {
    const server: EmbeddedServer = await startServer({ fsync: 'on', full_page_writes: 'on', synchronous_commit: 'on' });
    cleanup.add('server', () => server.stop());
    const dir = await mkdtemp(path.join(tmpdir(), 'prestamos-cdc-bench-'));
    cleanup.add('script dir', () => rm(dir, { recursive: true, force: true }));
    const script = path.join(dir, 'payment.sql');
    await writeFile(script, PGBENCH_SCRIPT);

    o.log(`  seeding ${params.juntas} juntas × ${params.loansPerJunta} loans`);
    const tmplUrl = await createDatabase(server, 'sw_tmpl', { migrated: true });
    const tmpl = openPool(tmplUrl, 2);
    await insertLegacyData(tmpl, generateLegacyData({ seed: 5, juntas: params.juntas, loansPerJunta: params.loansPerJunta }));
    await tmpl.query(`CREATE SCHEMA bench; CREATE TABLE bench.loans (n int PRIMARY KEY, id text NOT NULL)`);
    await tmpl.query(`INSERT INTO bench.loans SELECT row_number() OVER (ORDER BY id), id FROM "Prestamo"`);
    const nloans = Number((await tmpl.query<{ n: string }>(`SELECT count(*)::text AS n FROM bench.loans`)).rows[0]!.n);
    await tmpl.query('VACUUM ANALYZE');
    await tmpl.end();

    const urls = {} as Record<Condition, string>;
    for (const c of ['without', 'capture', 'trigger'] as Condition[]) urls[c] = await createDatabase(server, `sw_${c}`, { template: 'sw_tmpl' });
    await adminQuery(urls.trigger, PLAIN_SQL_MIGRATION);
    await adminQuery(urls.trigger, DUAL_WRITE_TRIGGER);
    const capPool = openPool(urls.capture, 2);
    cleanup.add('pool capture', () => capPool.end());
    const names = pipelineNames('sw');
    await startMigrationOn(urls.capture, names);
    {
      const first = await spawnPipeline({ mode: 'inline', databaseUrl: urls.capture, names });
      try {
        await waitSnapshotsApplied(capPool, 600_000);
      } finally {
        await first.stop();
      }
    }

    const pgbench = (url: string, syncCommit: 'on' | 'off') => {
      const u = new URL(url);
      return runPgbench(
        ['-h', u.hostname, '-p', u.port, '-U', 'postgres', '-n', '-M', 'prepared', '-c', String(params.clients), '-j', String(params.threads),
         '-T', String(params.seconds), '-D', `nloans=${nloans}`, '-f', script, u.pathname.slice(1)],
        { PGOPTIONS: `-c synchronous_commit=${syncCommit}` },
      );
    };

    const figures: Record<string, Record<Condition, number[]> & { captureCatchUpSeconds: number[] }> = {};
    for (const syncCommit of ['on', 'off'] as const) {
      await adminQuery(server.url(), `ALTER SYSTEM SET synchronous_commit = '${syncCommit}'`);
      await adminQuery(server.url(), `SELECT pg_reload_conf()`);
      const series = { without: [] as number[], capture: [] as number[], trigger: [] as number[], captureCatchUpSeconds: [] as number[] };
      figures[`synchronous_commit=${syncCommit}`] = series;
      for (let rep = 0; rep < params.reps; rep++) {
        for (const condition of ['without', 'capture', 'trigger'] as Condition[]) {
          if (condition === 'capture') {
            const pipeline = await spawnPipeline({ mode: 'inline', databaseUrl: urls.capture, names });
            try {
              // the pipeline idle and caught up before the run
              const before = await writeEndMarker(capPool, `sw-before-${syncCommit}-${rep}`);
              await waitFor('the pipeline to be caught up', () => markerApplied(capPool, before, null), 120_000, 50);
              const r = await pgbench(urls.capture, syncCommit);
              series.capture.push(round(r.tps, 1));
              const after = await writeEndMarker(capPool, `sw-after-${syncCommit}-${rep}`);
              const t0 = performance.now();
              await waitFor('the pipeline to catch up after the run', () => markerApplied(capPool, after, null), 600_000, 50);
              series.captureCatchUpSeconds.push(round((performance.now() - t0) / 1000, 2));
            } finally {
              await pipeline.stop();
            }
          } else {
            const r = await pgbench(urls[condition], syncCommit);
            series[condition].push(round(r.tps, 1));
          }
          o.log(`  synchronous_commit=${syncCommit} rep ${rep + 1} ${condition}: ${series[condition][series[condition].length - 1]} tps`);
        }
      }
    }
    await adminQuery(server.url(), `ALTER SYSTEM RESET synchronous_commit`);
    await adminQuery(server.url(), `SELECT pg_reload_conf()`);

    // both peers must have done the whole job
    const trigPool = openPool(urls.trigger, 2);
    const trigConsistency = await consistencyCounts(trigPool);
    await trigPool.end();
    const capConsistency = await consistencyCounts(capPool);
    if (!isConsistent(trigConsistency)) notes.push(`dual-write trigger database not consistent: ${JSON.stringify(trigConsistency)}`);
    if (!isConsistent(capConsistency)) notes.push(`capture database not consistent: ${JSON.stringify(capConsistency)}`);

    const median = (xs: number[]) => {
      const s = [...xs].sort((a, b) => a - b);
      return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
    };
    const summary: Record<string, unknown> = {};
    const checks = [];
    for (const [setting, s] of Object.entries(figures)) {
      const w = median(s.without);
      const c = median(s.capture);
      const t = median(s.trigger);
      summary[setting] = {
        tpsMedian: { without: round(w), capture: round(c), trigger: round(t) },
        captureOverWithout: round(c / w, 3),
        triggerOverWithout: round(t / w, 3),
        captureOverTrigger: round(c / t, 3),
      };
      if (setting === 'synchronous_commit=on') checks.push(atLeast('with capture / without (synchronous_commit on)', c / w, 0.97));
      else checks.push({ ...atLeast('with capture / without (synchronous_commit off, CPU-bound)', c / w, 0.97), target: 'reported (>= 0.97 for reference)' });
    }
    return {
      name: 'source-writes',
      date: new Date(started).toISOString(),
      durationSeconds: round((Date.now() - started) / 1000),
      machine: await machineInfo(server.url()),
      parameters: {
        scale: o.scale,
        seedData: `generateLegacyData seed 5: ${params.juntas} juntas × ${params.loansPerJunta} loans (${nloans} loans)`,
        pgbench: `${pgbenchVersion()}: -M prepared -c ${params.clients} -j ${params.threads} -T ${params.seconds}, ${params.reps} repetitions per condition, interleaved`,
        transaction: 'insert one payment, update its loan (bench/source-writes.ts PGBENCH_SCRIPT)',
        capture: 'prestamos-cdc run --inline (capture + sync) as a child process, default settings',
        trigger: 'row triggers writing PagoPrestamoNew, PrestamoNew and the ledger in the same transaction (bench/source-writes.ts DUAL_WRITE_TRIGGER)',
        serverSettings: 'fsync on, full_page_writes on, wal_level logical, shared_buffers 128MB; synchronous_commit switched with ALTER SYSTEM',
      },
      figures: { tps: figures, summary, consistency: { capture: capConsistency, trigger: trigConsistency } },
      checks,
      pass: checks.every((c) => c.pass),
      notes,
    };
  } finally {
    await cleanup.run(o.log);
  }
}

export async function run(o: BenchOptions): Promise<BenchResult> {
  const result = await sourceWritesBenchmark(o);
  await writeResult(result);
  return result;
}
