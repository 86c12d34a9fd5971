// 1. End-to-end change throughput against PostgreSQL's native logical replication.
//
// One source server, one subscriber server. Per mode (inline, kafka) a source database gets the same
// seeded legacy data; the pipeline's first load is applied and the pipeline stopped; a native
// publication + subscription copies the legacy tables to a database on the second server and is then
// disabled. A backlog of row changes is written while both are stopped (the same seed: the same changes
// in both modes). Then each catches up, one after the other: time from start to the end marker applied.
//   native: ALTER SUBSCRIPTION … ENABLE until the marker loan is in the subscriber's "Prestamo"
//   ours:   start the processes until the marker loan is in "PrestamoNew" (Kafka: and every partition's
//           consumer has applied the heartbeat written after it)
import pg from 'pg';
import { generateLegacyData, insertLegacyData } from '../services/testdata/generator.ts';
import {
  startServer, createDatabase, openPool, startMigrationOn, spawnPipeline, pipelineNames, waitSnapshotsApplied, waitFor,
  consistencyCounts, isConsistent, statementProfiling, resetStatementStats, statementStats, tableWriteStats, type StatementFigure, type TableWriteFigure, startKafkaIfNeeded, metricsText, counterSum, machineInfo, stopCdc, runInModes, atLeast, round, scaled, Cleanup,
  type BenchOptions, type BenchResult, type EmbeddedServer,
} from './support.ts';
import { buildBacklog, writeEndMarker, markerApplied } from './workload.ts';

const LEGACY_TABLES = ['Junta', 'Prestamo', 'PagoPrestamo', 'Accion', 'Multa'];

interface ModeFigures {
  backlogChanges: number;
  backlogTransactions: number;
  backlogByKind: Record<string, number>;
  backlogBuildSeconds: number;
  nativeSeconds: number;
  nativeChangesPerSecond: number;
  oursSeconds: number;
  oursChangesPerSecond: number;
  oursStartupSeconds: number;
  oursFirstApplySeconds: number | null;
  oursChangesPerSecondFromFirstApply: number | null;
  captureConfirmedSeconds: number | null;
  offsetGaps: number;
  consistent: boolean;
  consistency: Record<string, number>;
  ratio: number;
  /** BENCH_PG_STAT_STATEMENTS=1: the source database's statements during our catch-up */
  statements?: StatementFigure[];
  tableWrites?: TableWriteFigure[];
}

async function setUpNativeSubscription(source: EmbeddedServer, sourceDb: string, subscriber: EmbeddedServer, tag: string, srcPool: pg.Pool): Promise<{ subUrl: string; subPool: pg.Pool }> {
  await srcPool.query(`CREATE PUBLICATION native_${tag} FOR TABLE ${LEGACY_TABLES.map((t) => `"${t}"`).join(', ')}`);
  // the subscriber's copy of the legacy tables, with the columns the migration added (all replicated)
  const subUrl = await createDatabase(subscriber, `sub_${tag}`, { migrated: true });
  const subPool = openPool(subUrl, 2);
  await subPool.query(
    `CREATE SUBSCRIPTION native_${tag} CONNECTION 'host=127.0.0.1 port=${source.port} user=postgres dbname=${sourceDb}'
       PUBLICATION native_${tag} WITH (copy_data = true)`,
  );
  await waitFor(
    'the native subscription to copy the tables',
    async () => {
      const r = await subPool.query<{ n: string }>(`SELECT count(*)::text AS n FROM pg_subscription_rel WHERE srsubstate <> 'r'`);
      const all = await subPool.query(`SELECT 1 FROM pg_subscription_rel`);
      return all.rowCount === LEGACY_TABLES.length && r.rows[0]!.n === '0';
    },
    600_000,
    200,
  );
  await subPool.query(`ALTER SUBSCRIPTION native_${tag} DISABLE`);
  await waitFor(
    'the native subscription slot to be released',
    async () => {
      const r = await srcPool.query(`SELECT 1 FROM pg_replication_slots WHERE slot_name = $1 AND NOT active`, [`native_${tag}`]);
      return r.rowCount === 1;
    },
    60_000,
    100,
  );
  return { subUrl, subPool };
}

async function runMode(mode: 'inline' | 'kafka', o: BenchOptions, servers: { source: EmbeddedServer; subscriber: EmbeddedServer }, brokers: string[] | undefined, cleanup: Cleanup, params: { juntas: number; loansPerJunta: number; changes: number; txSize: number }): Promise<ModeFigures> {
  const tag = `${mode}_${Date.now().toString(36)}`;
  const dbName = `src_${tag}`;
  const srcUrl = await createDatabase(servers.source, dbName, { migrated: true });
  const srcPool = openPool(srcUrl, 4);
  cleanup.add(`pool ${dbName}`, () => srcPool.end());
  await insertLegacyData(srcPool, generateLegacyData({ seed: 7, juntas: params.juntas, loansPerJunta: params.loansPerJunta }));
  const names = pipelineNames(tag);
  await startMigrationOn(srcUrl, names);

  o.log(`  [${mode}] first load through the pipeline`);
  const first = await spawnPipeline({ mode, databaseUrl: srcUrl, names, brokers });
  // Kafka: the sync stays running (joined to its group, idle) and only the capture stops, so that the
  // measurement is not the group's rejoin (the mock broker waits a session timeout for a member that left).
  let idleSync: typeof first | undefined;
  try {
    await waitSnapshotsApplied(srcPool, 600_000);
  } finally {
    if (mode === 'kafka') {
      await stopCdc(first.processes.find((p) => p.role === 'capture')!);
      idleSync = { processes: first.processes.filter((p) => p.role === 'sync'), stop: async () => { for (const p of first.processes) await stopCdc(p); } };
      cleanup.add('idle sync', () => idleSync!.stop());
    } else {
      await first.stop();
    }
  }

  o.log(`  [${mode}] native subscription: initial copy`);
  const { subPool } = await setUpNativeSubscription(servers.source, dbName, servers.subscriber, tag, srcPool);
  cleanup.add(`subscription native_${tag}`, async () => {
    await subPool.query(`DROP SUBSCRIPTION IF EXISTS native_${tag}`).catch(() => undefined);
    await subPool.end();
  });

  o.log(`  [${mode}] writing a backlog of ${params.changes} changes (${params.txSize} per transaction) with both stopped`);
  const backlog = await buildBacklog(srcPool, { seed: 11, changes: params.changes, txSize: params.txSize });
  const marker = await writeEndMarker(srcPool, tag);
  const changes = backlog.changes + 1; // and the marker loan
  o.log(`  [${mode}] backlog: ${backlog.changes} changes in ${backlog.transactions} transactions, ${round(backlog.seconds)} s`);
  await srcPool.query('CHECKPOINT');

  // native logical replication
  const n0 = performance.now();
  await subPool.query(`ALTER SUBSCRIPTION native_${tag} ENABLE`);
  await waitFor('the subscriber to apply the backlog', async () => (await subPool.query(`SELECT 1 FROM "Prestamo" WHERE id = $1`, [marker.loanId])).rowCount === 1, 1_800_000, 20);
  const nativeSeconds = (performance.now() - n0) / 1000;
  await subPool.query(`ALTER SUBSCRIPTION native_${tag} DISABLE`);
  o.log(`  [${mode}] native: ${round(nativeSeconds, 2)} s, ${Math.round(changes / nativeSeconds)} changes/s`);

  // prestamos-cdc
  if (statementProfiling()) await resetStatementStats(srcPool);
  const t0 = performance.now();
  const started = await spawnPipeline({ mode, databaseUrl: srcUrl, names, brokers, roles: ['capture'] });
  const run = idleSync ? { processes: [...started.processes, ...idleSync.processes], stop: async () => { await started.stop(); await idleSync.stop(); } } : started;
  const startupSeconds = (performance.now() - t0) / 1000;
  const syncProcess = run.processes.find((p) => p.role !== 'capture')!;
  let captureConfirmedSeconds: number | null = null;
  let firstApplySeconds: number | null = null;
  const appliedBefore = idleSync ? counterSum(await metricsText(syncProcess), 'prestamos_cdc_events_applied_total') : 0;
  let offsetGaps = 0;
  try {
    await waitFor(
      'the pipeline to apply the backlog',
      async () => {
        if (firstApplySeconds === null && counterSum(await metricsText(syncProcess), 'prestamos_cdc_events_applied_total') > appliedBefore) {
          firstApplySeconds = (performance.now() - t0) / 1000;
        }
        if (captureConfirmedSeconds === null) {
          const s = await srcPool.query<{ ok: boolean }>(`SELECT confirmed_flush_lsn >= $2::pg_lsn AS ok FROM pg_replication_slots WHERE slot_name = $1`, [names.slot, marker.lsn]);
          if (s.rows[0]?.ok) captureConfirmedSeconds = (performance.now() - t0) / 1000;
        }
        return markerApplied(srcPool, marker, mode === 'kafka' ? names.groupId : null);
      },
      1_800_000,
      20,
    );
    const oursSeconds = (performance.now() - t0) / 1000;
    for (const p of run.processes) offsetGaps += counterSum(await metricsText(p), 'prestamos_cdc_offset_gaps_total');
    o.log(`  [${mode}] prestamos-cdc: ${round(oursSeconds, 2)} s (${round(startupSeconds, 2)} s to start), ${Math.round(changes / oursSeconds)} changes/s${offsetGaps ? `, ${offsetGaps} OFFSET GAPS` : ''}`);
    await run.stop();
    const statements = statementProfiling() ? await statementStats(srcPool) : undefined;
    const tableWrites = statementProfiling() ? await tableWriteStats(srcPool) : undefined;
    const consistency = await consistencyCounts(srcPool);
    return {
      backlogChanges: changes,
      backlogTransactions: backlog.transactions + 2,
      backlogByKind: backlog.byKind,
      backlogBuildSeconds: round(backlog.seconds, 2),
      nativeSeconds: round(nativeSeconds, 3),
      nativeChangesPerSecond: Math.round(changes / nativeSeconds),
      oursSeconds: round(oursSeconds, 3),
      oursChangesPerSecond: Math.round(changes / oursSeconds),
      oursStartupSeconds: round(startupSeconds, 3),
      oursFirstApplySeconds: firstApplySeconds === null ? null : round(firstApplySeconds, 3),
      oursChangesPerSecondFromFirstApply: firstApplySeconds === null ? null : Math.round(changes / (oursSeconds - firstApplySeconds)),
      captureConfirmedSeconds: captureConfirmedSeconds === null ? null : round(captureConfirmedSeconds, 3),
      offsetGaps,
      consistent: isConsistent(consistency),
      consistency,
      ratio: round(nativeSeconds / oursSeconds, 3),
      ...(statements ? { statements, tableWrites } : {}),
    };
  } finally {
    await run.stop();
  }
}

export async function throughputBenchmark(o: BenchOptions, only?: ('inline' | 'kafka')[]): Promise<BenchResult> {
  const started = Date.now();
  const cleanup = new Cleanup();
  const modes = only ?? (['inline', 'kafka'] as const);
  const inlineChanges = scaled(200_000, o.scale, 1000);
  // The mock broker keeps 5 MiB / 100,000 messages per partition: a Kafka backlog must fit (with the
  // consumer behind the producer), so it is smaller.
  const kafkaChanges = scaled(60_000, o.scale, 1000);
  const params = { juntas: scaled(100, Math.min(1, o.scale * 2), 10), loansPerJunta: 100, txSize: 50 };
  const figures: Record<string, ModeFigures> = {};
  const notes: string[] = [];
  try {
    const source = await startServer();
    cleanup.add('source server', () => source.stop());
    const subscriber = await startServer();
    cleanup.add('subscriber server', () => subscriber.stop());
    const brokers = await startKafkaIfNeeded(modes, cleanup);
    for (const mode of modes) {
      const changes = mode === 'kafka' ? kafkaChanges : inlineChanges;
      figures[mode] = await runMode(mode, o, { source, subscriber }, brokers, cleanup, { ...params, changes });
      if (figures[mode]!.offsetGaps > 0) notes.push(`${mode}: the consumer fell behind the broker's retention (${figures[mode]!.offsetGaps} offset gaps): that run's figure includes a table re-sync`);
      if (!figures[mode]!.consistent) notes.push(`${mode}: the new tables were NOT consistent after catching up: ${JSON.stringify(figures[mode]!.consistency)}`);
    }
    const machine = await machineInfo(source.url());
    const checks = [];
    if (figures.kafka) checks.push(atLeast('kafka / native logical replication', figures.kafka.ratio, 0.3));
    if (figures.inline) checks.push(atLeast('inline / native logical replication', figures.inline.ratio, 0.5));
    const result: BenchResult = {
      name: 'throughput',
      date: new Date(started).toISOString(),
      durationSeconds: round((Date.now() - started) / 1000),
      machine,
      parameters: {
        scale: o.scale,
        seedData: `${params.juntas} juntas × ${params.loansPerJunta} loans (generateLegacyData seed 7)`,
        backlogChanges: { inline: inlineChanges, kafka: kafkaChanges },
        rowsPerTransaction: params.txSize,
        mix: 'bench/workload.ts BACKLOG_MIX',
        pipeline: 'defaults (APPLY_BATCH_SIZE, PUBLISH_BATCH_SIZE 2000); kafka: separate capture and sync processes, JSON',
        peer: 'PostgreSQL native logical replication (publication + subscription to a second server on the same machine)',
        serverSettings: 'embedded defaults: fsync off, synchronous_commit off, shared_buffers 128MB',
      },
      figures,
      checks,
      pass: checks.every((c) => c.pass),
      notes,
    };
    return result;
  } finally {
    await cleanup.run(o.log);
  }
}

export const run = runInModes((o, modes) => throughputBenchmark(o, modes ?? ['inline', 'kafka']));
