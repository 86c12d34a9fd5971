// 4. End-to-end lag at a steady 1,000 changes/s.
//
// pgbench writes at a fixed rate (-R: 500 transactions/s of two changes each — a new payment and its
// loan touched) while the pipeline runs (inline; and capture + sync through Kafka). Lag is measured
// directly, per payment: the commit time of the legacy insert against the commit time of the apply
// transaction that wrote its PagoPrestamoNew row — both read from PostgreSQL
// (track_commit_timestamp = on, pg_xact_commit_timestamp(xmin)), so one clock. The sync's own
// histogram prestamos_cdc_end_to_end_lag_seconds (its /metrics, observed when a change is applied,
// Prometheus-style bucket interpolation) is reported beside it.
import { writeFile, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { generateLegacyData, insertLegacyData } from '../services/testdata/generator.ts';
import {
  startServer, createDatabase, openPool, startMigrationOn, spawnPipeline, pipelineNames, waitSnapshotsApplied, waitFor, startKafkaIfNeeded,
  metricsText, counterSum, histogramBuckets, bucketDelta, bucketQuantile, machineInfo, runInModes, below, round, Cleanup, runPgbench, pgbenchVersion,
  type BenchOptions, type BenchResult,
} from './support.ts';
import { PGBENCH_SCRIPT } from './source-writes.ts';
import { writeEndMarker, markerApplied } from './workload.ts';

const LAG_METRIC = 'prestamos_cdc_end_to_end_lag_seconds';
const PUBLISH_METRIC = 'prestamos_cdc_source_to_publish_lag_seconds';
/** The targets of p99 lag at 1,000 changes/s, per mode. */
const LAG_P99_TARGET_MS = { inline: 100, kafka: 250 } as const;

export async function lagBenchmark(o: BenchOptions, modes: ('inline' | 'kafka')[]): Promise<BenchResult> {
  const started = Date.now();
  const cleanup = new Cleanup();
  const changesPerSecond = 1000;
  const params = { juntas: 100, loansPerJunta: 100, tps: changesPerSecond / 2, seconds: Math.max(10, Math.round(60 * Math.min(1, o.scale))), clients: 4, threads: 2 };
  const figures: Record<string, unknown> = {};
  const notes: string[] = [];
  const checks = [];
  try {
    // synchronous_commit on, as on a production primary: with it off, commits reach the WAL sender only
    // when the WAL writer flushes them (every wal_writer_delay, 200 ms), which the lag would include.
    const server = await startServer({ track_commit_timestamp: 'on', synchronous_commit: 'on' });
    cleanup.add('server', () => server.stop());
    const dir = await mkdtemp(path.join(tmpdir(), 'prestamos-cdc-bench-'));
    cleanup.add('script dir', () => rm(dir, { recursive: true, force: true }));
    const script = path.join(dir, 'payment.sql');
    await writeFile(script, PGBENCH_SCRIPT);
    const brokers = await startKafkaIfNeeded(modes, cleanup);
    for (const mode of modes) {
      const url = await createDatabase(server, `lag_${mode}`, { migrated: true });
      const pool = openPool(url, 2);
      cleanup.add(`pool lag_${mode}`, () => pool.end());
      await insertLegacyData(pool, generateLegacyData({ seed: 9, juntas: params.juntas, loansPerJunta: params.loansPerJunta }));
      await pool.query(`CREATE SCHEMA bench; CREATE TABLE bench.loans (n int PRIMARY KEY, id text NOT NULL)`);
      await pool.query(`INSERT INTO bench.loans SELECT row_number() OVER (ORDER BY id), id FROM "Prestamo"`);
      const nloans = Number((await pool.query<{ n: string }>(`SELECT count(*)::text AS n FROM bench.loans`)).rows[0]!.n);
      const names = pipelineNames(`lag_${mode}`);
      await startMigrationOn(url, names);
      const pipeline = await spawnPipeline({ mode, databaseUrl: url, names, brokers });
      cleanup.add(`pipeline ${mode}`, () => pipeline.stop());
      await waitSnapshotsApplied(pool, 600_000);
      const warm = await writeEndMarker(pool, `lag-warm-${mode}`);
      await waitFor('the pipeline to be caught up', () => markerApplied(pool, warm, mode === 'kafka' ? names.groupId : null), 120_000, 50);
      const sync = pipeline.processes.find((p) => p.role !== 'capture')!;
      const capture = pipeline.processes.find((p) => p.role !== 'sync')!;
      const before = histogramBuckets(await metricsText(sync), LAG_METRIC);
      const publishBefore = histogramBuckets(await metricsText(capture), PUBLISH_METRIC);
      const syncBefore = await metricsText(sync);
      const runStart = (await pool.query<{ t: string }>(`SELECT clock_timestamp()::text AS t`)).rows[0]!.t;
      o.log(`  [${mode}] pgbench -R ${params.tps} for ${params.seconds} s (${changesPerSecond} changes/s)`);
      const u = new URL(url);
      const r = await runPgbench([
        '-h', u.hostname, '-p', u.port, '-U', 'postgres', '-n', '-M', 'prepared', '-c', String(params.clients), '-j', String(params.threads),
        '-R', String(params.tps), '-T', String(params.seconds), '-D', `nloans=${nloans}`, '-f', script, u.pathname.slice(1),
      ]);
      const end = await writeEndMarker(pool, `lag-end-${mode}`);
      await waitFor('the pipeline to catch up', () => markerApplied(pool, end, mode === 'kafka' ? names.groupId : null), 600_000, 50);
      const syncAfter = await metricsText(sync);
      const after = histogramBuckets(syncAfter, LAG_METRIC);
      const delta = bucketDelta(after, before);
      const publish = bucketDelta(histogramBuckets(await metricsText(capture), PUBLISH_METRIC), publishBefore);
      const d = (name: string) => counterSum(syncAfter, name) - counterSum(syncBefore, name);
      const batches = d('prestamos_cdc_apply_batch_duration_seconds_count');
      const direct = (await pool.query<{ n: string; p50: number; p90: number; p99: number; max: number; avg: number }>(
        `SELECT count(*)::text AS n,
                percentile_cont(0.5) WITHIN GROUP (ORDER BY ms) AS p50,
                percentile_cont(0.9) WITHIN GROUP (ORDER BY ms) AS p90,
                percentile_cont(0.99) WITHIN GROUP (ORDER BY ms) AS p99,
                max(ms) AS max, avg(ms) AS avg
           FROM (SELECT extract(epoch FROM pg_xact_commit_timestamp(n.xmin) - pg_xact_commit_timestamp(p.xmin)) * 1000 AS ms
                   FROM "PagoPrestamo" p JOIN "PagoPrestamoNew" n ON n.id = p.id
                  WHERE p.id LIKE 'pb-%' AND pg_xact_commit_timestamp(p.xmin) >= $1::timestamptz) x`,
        [runStart],
      )).rows[0]!;
      const f = {
        pgbenchTps: round(r.tps, 1),
        changesPerSecond: round(r.tps * 2, 1),
        payments: Number(direct.n),
        directMs: { p50: round(direct.p50, 1), p90: round(direct.p90, 1), p99: round(direct.p99, 1), max: round(direct.max, 1), avg: round(direct.avg, 1) },
        histogramMs: {
          observations: delta[delta.length - 1]?.count ?? 0,
          p50: round((bucketQuantile(delta, 0.5) ?? NaN) * 1000, 1),
          p99: round((bucketQuantile(delta, 0.99) ?? NaN) * 1000, 1),
        },
        commitToPublishMs: {
          p50: round((bucketQuantile(publish, 0.5) ?? NaN) * 1000, 1),
          p99: round((bucketQuantile(publish, 0.99) ?? NaN) * 1000, 1),
        },
        applyTransactions: batches,
        applyEventsPerTransaction: batches ? round(d('prestamos_cdc_apply_batch_size_sum') / batches, 1) : null,
        applyMsPerTransaction: batches ? round((d('prestamos_cdc_apply_batch_duration_seconds_sum') / batches) * 1000, 1) : null,
      };
      figures[mode] = f;
      o.log(`  [${mode}] direct p50 ${f.directMs.p50} ms, p99 ${f.directMs.p99} ms, max ${f.directMs.max} ms; histogram p50 ${f.histogramMs.p50} ms, p99 ${f.histogramMs.p99} ms; ${f.changesPerSecond} changes/s; commit→publish p50 ${f.commitToPublishMs.p50} ms; ${f.applyTransactions} apply transactions, ${f.applyEventsPerTransaction} events and ${f.applyMsPerTransaction} ms each`);
      checks.push(below(`${mode} end-to-end lag p99 (ms)`, f.directMs.p99, LAG_P99_TARGET_MS[mode], ' ms'));
      await pipeline.stop();
    }
    return {
      name: 'lag',
      date: new Date(started).toISOString(),
      durationSeconds: round((Date.now() - started) / 1000),
      machine: await machineInfo(server.url()),
      parameters: {
        scale: o.scale,
        seedData: `generateLegacyData seed 9: ${params.juntas} juntas × ${params.loansPerJunta} loans`,
        load: `${pgbenchVersion()} -R ${params.tps} -c ${params.clients} -T ${params.seconds}: ${changesPerSecond} changes/s (insert a payment, update its loan)`,
        pipeline: 'defaults, HEARTBEAT_INTERVAL_MS 1000; inline: run --inline; kafka: capture and sync processes, JSON',
        measure: 'commit of the legacy insert → commit of the apply transaction that wrote the PagoPrestamoNew row (pg_xact_commit_timestamp)',
        serverSettings: 'embedded defaults (fsync off) with synchronous_commit on and track_commit_timestamp on',
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

export const run = runInModes((o, modes) => lagBenchmark(o, modes ?? ['inline', 'kafka']));
