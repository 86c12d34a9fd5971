// 2. Snapshot (first load) rate against a stop-the-world plain-SQL migration.
//
// One template database with seeded legacy data and the migration objects is cloned (CREATE DATABASE
// … TEMPLATE, a file copy) once per contestant, so both work on identical data:
//   ours:  POST /start's work (publication, slot, first-load request) and the pipeline's chunked,
//          watermarked snapshot through the ordered stream until every request is applied (inline,
//          and through Kafka)
//   peer:  one transaction that locks the legacy tables against writes and derives everything with
//          INSERT … SELECT: PagoPrestamoNew (split), PrestamoNew (aggregates), capital_movements (one
//          movement per legacy row worth something; the Junta capital trigger runs at commit)
// Both results are checked with the reconciler's SQL views (sql/verification_views.sql).
import { generateLegacyData, insertLegacyData } from '../services/testdata/generator.ts';
import {
  startServer, createDatabase, openPool, startMigrationOn, spawnPipeline, pipelineNames, waitSnapshotsApplied, consistencyCounts, isConsistent,
  startKafkaIfNeeded, machineInfo, runInModes, atLeast, round, scaled, Cleanup, adminQuery,
  statementProfiling, resetStatementStats, statementStats, type BenchOptions, type BenchResult,
} from './support.ts';

/** The stop-the-world migration: the derivations of SPEC §3 written as INSERT … SELECT (verification_views.sql). */
export const PLAIN_SQL_MIGRATION = `
BEGIN;
LOCK TABLE "Prestamo", "PagoPrestamo", "Accion", "Multa" IN SHARE MODE;
INSERT INTO "PagoPrestamoNew" (id, prestamo_id, amount, principal_amount, interest_amount, paid_at, status, created_at, updated_at, source_lsn)
SELECT id, prestamo_id, amount, principal_amount, interest_amount, paid_at, status, created_at, updated_at, pg_current_wal_lsn()
  FROM prestamos_cdc.expected_pago_new;
INSERT INTO "PrestamoNew" (id, junta_id, member_id, principal, monthly_interest_rate, installments, status, disbursed_at, due_at, notes,
                           total_paid, principal_paid, interest_paid, outstanding_principal, payments_count, last_payment_at,
                           created_at, updated_at, source_lsn)
SELECT id, junta_id, member_id, principal, monthly_interest_rate, installments, status, disbursed_at, due_at, notes,
       total_paid, principal_paid, interest_paid, outstanding_principal, payments_count, last_payment_at,
       created_at, updated_at, pg_current_wal_lsn()
  FROM prestamos_cdc.expected_prestamo_new;
INSERT INTO capital_movements (junta_id, type, direction, amount, description, prestamo_id, pago_id, accion_id, multa_id, source_lsn)
SELECT p."juntaId", 'PRESTAMO', 'OUT', p.monto, 'PRESTAMO ' || p.id || ' initial load', p.id, NULL, NULL, NULL, pg_current_wal_lsn()
  FROM "Prestamo" p WHERE p.estado IN ('DESEMBOLSADO', 'PAGADO', 'VENCIDO') AND p.monto > 0
UNION ALL
SELECT p."juntaId", 'PAGO', 'IN', pp.monto, 'PAGO ' || pp.id || ' initial load', p.id, pp.id, NULL, NULL, pg_current_wal_lsn()
  FROM "PagoPrestamo" pp JOIN "Prestamo" p ON p.id = pp."prestamoId" WHERE NOT pp.anulado AND pp.monto > 0
UNION ALL
SELECT a."juntaId", 'ACCION', 'IN', a.cantidad * a."valorUnitario", 'ACCION ' || a.id || ' initial load', NULL, NULL, a.id, NULL, pg_current_wal_lsn()
  FROM "Accion" a WHERE a.affects_capital AND a.cantidad * a."valorUnitario" > 0
UNION ALL
SELECT m."juntaId", 'MULTA', 'IN', m.monto, 'MULTA ' || m.id || ' initial load', NULL, NULL, NULL, m.id, pg_current_wal_lsn()
  FROM "Multa" m WHERE m.pagada AND m.affects_capital AND m.monto > 0;
COMMIT;`;

interface Contestant {
  seconds: number;
  rowsPerSecond: number;
  consistent: boolean;
  consistency: Record<string, number>;
}

export async function snapshotBenchmark(o: BenchOptions, modes: ('inline' | 'kafka')[]): Promise<BenchResult> {
  const started = Date.now();
  const cleanup = new Cleanup();
  const params = { juntas: scaled(200, o.scale, 4), loansPerJunta: 500, seed: 3 };
  const figures: Record<string, unknown> = {};
  const notes: string[] = [];
  try {
    const server = await startServer();
    cleanup.add('server', () => server.stop());
    o.log(`  seeding ${params.juntas} juntas × ${params.loansPerJunta} loans`);
    const tmplUrl = await createDatabase(server, 'snap_tmpl', { migrated: true });
    const tmpl = openPool(tmplUrl, 2);
    await insertLegacyData(tmpl, generateLegacyData(params));
    const counts = (await tmpl.query<{ t: string; n: string }>(
      `SELECT 'Prestamo' AS t, count(*)::text AS n FROM "Prestamo" UNION ALL SELECT 'PagoPrestamo', count(*)::text FROM "PagoPrestamo"
       UNION ALL SELECT 'Accion', count(*)::text FROM "Accion" UNION ALL SELECT 'Multa', count(*)::text FROM "Multa"`,
    )).rows;
    await tmpl.query('VACUUM ANALYZE');
    await tmpl.end();
    const rowsByTable = Object.fromEntries(counts.map((r) => [r.t, Number(r.n)]));
    const rows = Object.values(rowsByTable).reduce((a, b) => a + b, 0);
    figures.rows = rowsByTable;
    o.log(`  ${rows} legacy rows`);

    // the plain-SQL peer
    const sqlUrl = await createDatabase(server, 'snap_sql', { template: 'snap_tmpl' });
    const sqlPool = openPool(sqlUrl, 2);
    cleanup.add('pool snap_sql', () => sqlPool.end());
    const p0 = performance.now();
    await adminQuery(sqlUrl, PLAIN_SQL_MIGRATION);
    const peerSeconds = (performance.now() - p0) / 1000;
    const peerConsistency = await consistencyCounts(sqlPool);
    const peer: Contestant = { seconds: round(peerSeconds, 3), rowsPerSecond: Math.round(rows / peerSeconds), consistent: isConsistent(peerConsistency), consistency: peerConsistency };
    figures.plainSql = peer;
    o.log(`  plain SQL: ${round(peerSeconds, 2)} s, ${peer.rowsPerSecond} rows/s`);
    if (!peer.consistent) notes.push(`the plain-SQL peer's result is not consistent: ${JSON.stringify(peerConsistency)}`);

    const brokers = await startKafkaIfNeeded(modes, cleanup);
    const checks = [];
    for (const mode of modes) {
      const dbName = `snap_${mode}`;
      const url = await createDatabase(server, dbName, { template: 'snap_tmpl' });
      const pool = openPool(url, 2);
      cleanup.add(`pool ${dbName}`, () => pool.end());
      const names = pipelineNames(`snap_${mode}`);
      if (statementProfiling()) await resetStatementStats(pool);
      const t0 = performance.now();
      let seconds = 0;
      const pipeline = await spawnPipeline({ mode, databaseUrl: url, names, brokers });
      try {
        await startMigrationOn(url, names);
        await waitSnapshotsApplied(pool, 3_600_000);
      } finally {
        seconds = (performance.now() - t0) / 1000;
        await pipeline.stop();
      }
      const statements = statementProfiling() ? await statementStats(pool) : undefined;
      const consistency = await consistencyCounts(pool);
      const ours: Contestant = { seconds: round(seconds, 3), rowsPerSecond: Math.round(rows / seconds), consistent: isConsistent(consistency), consistency };
      const ratio = round(peerSeconds / seconds, 3);
      figures[mode] = { ...ours, ratio, ...(statements ? { statements } : {}) };
      o.log(`  prestamos-cdc ${mode}: ${round(seconds, 2)} s, ${ours.rowsPerSecond} rows/s, ratio ${ratio}`);
      if (!ours.consistent) notes.push(`${mode}: the new tables are not consistent after the snapshot: ${JSON.stringify(consistency)}`);
      checks.push(atLeast(`${mode} snapshot / plain-SQL INSERT…SELECT`, ratio, 0.3));
    }
    return {
      name: 'snapshot',
      date: new Date(started).toISOString(),
      durationSeconds: round((Date.now() - started) / 1000),
      machine: await machineInfo(server.url()),
      parameters: {
        scale: o.scale,
        seedData: `generateLegacyData seed ${params.seed}: ${params.juntas} juntas × ${params.loansPerJunta} loans`,
        pipeline: 'defaults: SNAPSHOT_CHUNK_SIZE 2000, SNAPSHOT_MAX_CHUNKS_IN_FLIGHT 4, APPLY_BATCH_SIZE 2000; timed from process start through POST /start\'s work to every snapshot request applied',
        peer: 'one transaction: LOCK … IN SHARE MODE, INSERT … SELECT into PagoPrestamoNew, PrestamoNew and capital_movements (bench/snapshot.ts PLAIN_SQL_MIGRATION)',
        serverSettings: 'embedded defaults: fsync off, synchronous_commit off, shared_buffers 128MB',
      },
      figures,
      checks,
      pass: checks.every((c) => c.pass),
      notes,
    };
  } finally {
    await cleanup.run(o.log);
  }
}

export const run = runInModes((o, modes) => snapshotBenchmark(o, modes ?? ['inline', 'kafka']));
