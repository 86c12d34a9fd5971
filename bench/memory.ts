// 5. Peak memory of the capture and the sync through one 1,000,000-row transaction.
//
// The processes are children (`node cli/main.ts run --inline`, `capture`, `sync`); their peak resident
// set is VmHWM from /proc/<pid>/status (sampled, with VmRSS, every 200 ms). The transaction inserts
// 1,000,000 loans (Prestamo rows, a third of them disbursed: a ledger movement each) in one statement.
//   inline: run --inline (capture + sync in one process) applies the whole transaction
//   kafka:  capture and sync processes through an Apache Kafka broker (KRaft, one node, unlimited
//           retention): the whole transaction is published and applied, and the result checked exact.
import { generateLegacyData, insertLegacyData } from '../services/testdata/generator.ts';
import {
  startServer, createDatabase, openPool, startMigrationOn, spawnPipeline, pipelineNames, waitSnapshotsApplied, waitFor, startKafkaIfNeeded,
  memoryOf, cdcNodeOptions, metricsText, counterSum, machineInfo, runInModes, below, round, scaled, sleep, Cleanup, consistencyCounts, isConsistent,
  type BenchOptions, type BenchResult, type CdcProcess,
} from './support.ts';
import { writeEndMarker, markerApplied } from './workload.ts';

class Sampler {
  readonly peak = new Map<number, { hwm: number; rss: number }>();
  private timer: NodeJS.Timeout | undefined;
  private readonly procs: CdcProcess[];
  constructor(procs: CdcProcess[]) {
    this.procs = procs;
  }
  async sample(): Promise<void> {
    for (const p of this.procs) {
      const m = await memoryOf(p.pid);
      if (!m) continue;
      const prev = this.peak.get(p.pid) ?? { hwm: 0, rss: 0 };
      this.peak.set(p.pid, { hwm: Math.max(prev.hwm, m.hwmMiB), rss: Math.max(prev.rss, m.rssMiB) });
    }
  }
  start(): void {
    this.timer = setInterval(() => void this.sample(), 200);
  }
  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.sample();
  }
}

const BIG_TRANSACTION = `
INSERT INTO "Prestamo" (id, "juntaId", "miembroId", monto, "tasaInteres", cuotas, estado, "fechaDesembolso", observaciones, "createdAt", "updatedAt")
SELECT 'mx' || lpad(g::text, 8, '0'), j.id, 'member-' || (g % 997), ((10000 + (g::bigint * 7919) % 2000000)::numeric / 100), 0.0250, 12,
       (ARRAY['PENDIENTE','APROBADO','DESEMBOLSADO','PAGADO','VENCIDO','CANCELADO'])[1 + g % 6],
       CASE WHEN g % 6 IN (2, 3, 4) THEN now()::timestamp(3) END, CASE WHEN g % 10 = 0 THEN 'nota ' || g END, now(), now()
  FROM generate_series(1, $1::int) g
  JOIN (SELECT row_number() OVER (ORDER BY id) - 1 AS k, id FROM "Junta") j ON j.k = g % $2::int`;

export async function memoryBenchmark(o: BenchOptions, modes: ('inline' | 'kafka')[]): Promise<BenchResult> {
  const started = Date.now();
  const cleanup = new Cleanup();
  const rows = scaled(1_000_000, o.scale, 1000);
  const figures: Record<string, unknown> = {};
  const notes: string[] = [];
  const checks = [];
  try {
    const server = await startServer();
    cleanup.add('server', () => server.stop());
    const brokers = await startKafkaIfNeeded(modes, cleanup);
    for (const mode of modes) {
      const url = await createDatabase(server, `mem_${mode}`, { migrated: true });
      const pool = openPool(url, 2);
      cleanup.add(`pool mem_${mode}`, () => pool.end());
      await insertLegacyData(pool, generateLegacyData({ seed: 13, juntas: 50, loansPerJunta: 10 }));
      const names = pipelineNames(`mem_${mode}`);
      await startMigrationOn(url, names);
      const pipeline = await spawnPipeline({ mode, databaseUrl: url, names, brokers });
      cleanup.add(`pipeline ${mode}`, () => pipeline.stop());
      await waitSnapshotsApplied(pool, 600_000);
      const sampler = new Sampler(pipeline.processes);
      await sleep(1000);
      await sampler.sample();
      const baseline = Object.fromEntries(pipeline.processes.map((p) => [p.role, round(sampler.peak.get(p.pid)?.hwm ?? NaN)]));
      sampler.start();
      o.log(`  [${mode}] one transaction of ${rows} rows`);
      const t0 = performance.now();
      const juntas = Number((await pool.query<{ n: string }>(`SELECT count(*)::text AS n FROM "Junta"`)).rows[0]!.n);
      await pool.query(BIG_TRANSACTION, [rows, juntas]);
      const writeSeconds = (performance.now() - t0) / 1000;
      const marker = await writeEndMarker(pool, `mem-${mode}`);
      let applied = true;
      let captureSeconds: number | null = null;
      if (mode === 'inline') {
        await waitFor('the pipeline to apply the transaction', () => markerApplied(pool, marker, null), 3_600_000, 500);
      } else {
        await waitFor(
          'the capture to publish the transaction',
          async () => (await pool.query(`SELECT 1 FROM pg_replication_slots WHERE slot_name = $1 AND confirmed_flush_lsn >= $2::pg_lsn`, [names.slot, marker.lsn])).rowCount === 1,
          3_600_000,
          500,
        );
        captureSeconds = (performance.now() - t0) / 1000;
        // the sync applies the whole backlog (bounded at an hour)
        const deadline = performance.now() + 3_600_000;
        applied = false;
        while (performance.now() < deadline) {
          const dead = pipeline.processes.find((p) => p.child.exitCode !== null || p.child.signalCode !== null);
          if (dead) throw new Error(`prestamos-cdc ${dead.role} exited (${dead.child.exitCode ?? dead.child.signalCode}) while applying the transaction:\n${dead.output()}`);
          if (await markerApplied(pool, marker, names.groupId)) {
            applied = true;
            break;
          }
          await sleep(500);
        }
      }
      const seconds = (performance.now() - t0) / 1000;
      await sampler.stop();
      let gaps = 0;
      for (const p of pipeline.processes) gaps += counterSum(await metricsText(p), 'prestamos_cdc_offset_gaps_total');
      const peaks = Object.fromEntries(pipeline.processes.map((p) => [p.role, { vmHWMMiB: round(sampler.peak.get(p.pid)!.hwm), maxVmRSSMiB: round(sampler.peak.get(p.pid)!.rss) }]));
      figures[mode] = { rows, writeSeconds: round(writeSeconds, 1), seconds: round(seconds, 1), captureSeconds: captureSeconds === null ? null : round(captureSeconds, 1), appliedEverything: applied, offsetGaps: gaps, baselineVmHWMMiB: baseline, peak: peaks };
      o.log(`  [${mode}] ${JSON.stringify(peaks)} (before: ${JSON.stringify(baseline)}), ${round(seconds, 1)} s${applied ? '' : ', not all applied'}${gaps ? `, ${gaps} offset gaps` : ''}`);
      for (const p of pipeline.processes) checks.push(below(`${mode} ${p.role} peak RSS (MiB)`, sampler.peak.get(p.pid)!.hwm, 300, ' MiB'));
      const consistency = await consistencyCounts(pool);
      (figures[mode] as Record<string, unknown>).consistency = consistency;
      checks.push({ name: `${mode} whole transaction applied, new tables exact`, value: applied && isConsistent(consistency) ? 1 : 0, target: '1', pass: applied && isConsistent(consistency) && gaps === 0 });
      if (!applied) notes.push(`${mode}: the transaction was not fully applied within the bound (${gaps} offset gaps)`);
      await pipeline.stop();
    }
    return {
      name: 'memory',
      date: new Date(started).toISOString(),
      durationSeconds: round((Date.now() - started) / 1000),
      machine: await machineInfo(server.url()),
      parameters: {
        scale: o.scale,
        transaction: `one INSERT … SELECT of ${rows} Prestamo rows (bench/memory.ts BIG_TRANSACTION)`,
        pipeline: 'defaults: CAPTURE_MAX_BUFFERED_CHANGES 20000, PUBLISH_BATCH_SIZE 2000, APPLY_BATCH_SIZE 2000; child processes',
        nodeOptions: cdcNodeOptions(),
        measure: 'VmHWM of each process (/proc/<pid>/status), sampled every 200 ms with VmRSS',
        serverSettings: 'embedded defaults: logical_decoding_work_mem 64MB (the server spills the transaction to disk)',
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

export const run = runInModes((o, modes) => memoryBenchmark(o, modes ?? ['inline', 'kafka']));
