// The pipeline and the reconciler against the real thing: PostgreSQL (wal_level=logical), Apache Kafka
// (KRaft) and the Confluent Schema Registry in containers (testcontainers), with the images of
// docker-compose.yml. It runs when a Docker engine is reachable (DOCKER_HOST, the local socket, …) and
// is reported as skipped — "skipped: no Docker engine reachable" — when none is.
//   npx vitest run test/containers
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import { randomInt } from 'node:crypto';
import { GenericContainer, Network, RandomPortGenerator, Wait, getContainerRuntimeClient, type StartedNetwork, type StartedTestContainer } from 'testcontainers';
import { runSqlFile, migrate, LEGACY_SCHEMA_FILE } from '../../connectors/postgres/migrator.ts';
import { silentLogger } from '../../services/runtime/logger.ts';
import { createToken } from '../../services/reconciler/tokens.ts';
import { generateLegacyData, insertLegacyData } from '../../services/testdata/generator.ts';
import { startLegacyWriter } from '../../services/testdata/legacy-writer.ts';
import type { RunningProcess } from '../../services/orchestrator/process-runner.ts';
import { databaseUrl, type TestDatabase } from '../support/database.ts';
import { configFor, startTestProcess, startMigrationFor, waitForCatchUp, expectConsistent } from '../support/pipeline.ts';
import { loadCompose } from '../support/compose-check.ts';

async function dockerEngine(): Promise<{ host: string } | { skipped: string }> {
  try {
    const client = await getContainerRuntimeClient();
    return { host: client.info.containerRuntime.host };
  } catch (err) {
    return { skipped: (err as Error).message };
  }
}

const engine = await dockerEngine();
const SKIPPED = 'skipped: no Docker engine reachable';
if ('skipped' in engine) console.warn(`test/containers: ${SKIPPED} (${engine.skipped})`);

/** The image docker-compose.yml runs for a repository, so that both use the same versions. */
function composeImage(repository: string): string {
  const image = Object.values(loadCompose().services).map((s) => s.image ?? '').find((i) => i.split(':')[0] === repository);
  if (!image) throw new Error(`docker-compose.yml has no ${repository} image`);
  return image;
}

interface Stack {
  network: StartedNetwork;
  containers: StartedTestContainer[];
  postgresUrl: string;
  brokers: string[];
  registryUrl: string;
}

async function startStack(host: string): Promise<Stack> {
  const network = await new Network().start();
  const containers: StartedTestContainer[] = [];
  try {
    const postgres = await new GenericContainer(composeImage('postgres'))
      .withEnvironment({ POSTGRES_USER: 'junta', POSTGRES_PASSWORD: 'junta', POSTGRES_DB: 'junta' })
      .withCommand(['postgres', '-c', 'wal_level=logical', '-c', 'max_replication_slots=20', '-c', 'max_wal_senders=20'])
      .withExposedPorts(5432)
      .withWaitStrategy(Wait.forLogMessage(/database system is ready to accept connections/, 2))
      .withStartupTimeout(180_000)
      .start();
    containers.push(postgres);
    // The broker advertises to the host a port chosen before it starts (its listener address is
    // configuration), and to the registry its network alias.
    const kafkaPort = await new RandomPortGenerator().generatePort();
    const kafka = await new GenericContainer(composeImage('apache/kafka'))
      .withNetwork(network)
      .withNetworkAliases('kafka')
      .withExposedPorts({ container: 9094, host: kafkaPort })
      .withEnvironment({
        CLUSTER_ID: '4L6g3nShT-eMCtK--X86sw',
        KAFKA_NODE_ID: '1',
        KAFKA_PROCESS_ROLES: 'broker,controller',
        KAFKA_CONTROLLER_QUORUM_VOTERS: '1@kafka:9093',
        KAFKA_LISTENERS: 'PLAINTEXT://:9092,CONTROLLER://:9093,EXTERNAL://:9094',
        KAFKA_ADVERTISED_LISTENERS: `PLAINTEXT://kafka:9092,EXTERNAL://${host}:${kafkaPort}`,
        KAFKA_LISTENER_SECURITY_PROTOCOL_MAP: 'PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT,EXTERNAL:PLAINTEXT',
        KAFKA_CONTROLLER_LISTENER_NAMES: 'CONTROLLER',
        KAFKA_INTER_BROKER_LISTENER_NAME: 'PLAINTEXT',
        KAFKA_NUM_PARTITIONS: '4',
        KAFKA_AUTO_CREATE_TOPICS_ENABLE: 'true',
        KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR: '1',
        KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR: '1',
        KAFKA_TRANSACTION_STATE_LOG_MIN_ISR: '1',
        KAFKA_GROUP_INITIAL_REBALANCE_DELAY_MS: '0',
      })
      .withWaitStrategy(Wait.forLogMessage(/Kafka Server started/))
      .withStartupTimeout(180_000)
      .start();
    containers.push(kafka);
    const registry = await new GenericContainer(composeImage('confluentinc/cp-schema-registry'))
      .withNetwork(network)
      .withEnvironment({
        SCHEMA_REGISTRY_HOST_NAME: 'schema-registry',
        SCHEMA_REGISTRY_LISTENERS: 'http://0.0.0.0:8081',
        SCHEMA_REGISTRY_KAFKASTORE_BOOTSTRAP_SERVERS: 'PLAINTEXT://kafka:9092',
      })
      .withExposedPorts(8081)
      .withWaitStrategy(Wait.forHttp('/subjects', 8081).forStatusCode(200))
      .withStartupTimeout(180_000)
      .start();
    containers.push(registry);
    return {
      network,
      containers,
      postgresUrl: `postgres://junta:junta@${postgres.getHost()}:${postgres.getMappedPort(5432)}/junta`,
      brokers: [`${host}:${kafkaPort}`],
      registryUrl: `http://${registry.getHost()}:${registry.getMappedPort(8081)}`,
    };
  } catch (err) {
    for (const c of containers.reverse()) await c.stop().catch(() => undefined);
    await network.stop().catch(() => undefined);
    throw err;
  }
}

/** A database of the container's server with the legacy schema, shaped like the harness's test databases. */
async function legacyDatabase(adminUrl: string, name: string): Promise<TestDatabase> {
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE ${name}`);
  } finally {
    await admin.end();
  }
  const url = databaseUrl(adminUrl, name);
  await runSqlFile(url, LEGACY_SCHEMA_FILE);
  const pool = new pg.Pool({ connectionString: url, max: 4 });
  pool.on('error', () => undefined);
  return { name, url, query: (sql, params) => pool.query(sql, params as unknown[]), drop: () => pool.end() };
}

describe.skipIf('skipped' in engine)(
  'skipped' in engine ? `real PostgreSQL, Kafka and Schema Registry containers — ${SKIPPED}` : 'real PostgreSQL, Kafka and Schema Registry containers',
  () => {
    let stack: Stack | undefined;
    const procs: RunningProcess[] = [];
    const dbs: TestDatabase[] = [];
    const pools: pg.Pool[] = [];

    beforeAll(async () => {
      stack = await startStack((engine as { host: string }).host);
    }, 900_000);

    afterAll(async () => {
      for (const p of procs.reverse()) await p.stop().catch(() => undefined);
      for (const p of pools) await p.end().catch(() => undefined);
      for (const d of dbs) await d.drop().catch(() => undefined);
      for (const c of (stack?.containers ?? []).reverse()) await c.stop().catch(() => undefined);
      await stack?.network.stop().catch(() => undefined);
    }, 300_000);

    // The property of the pipeline: whatever the data and whatever the application does while the
    // migration runs, once caught up the new tables and the ledger equal what the legacy rows imply.
    const seeds = [7, randomInt(1, 1_000_000)];
    for (const seed of seeds) {
      it(`keeps the new tables and the ledger exact through Kafka and Avro (seed ${seed})`, async () => {
        const db = await legacyDatabase(stack!.postgresUrl, `prop_${seed}`);
        dbs.push(db);
        const pool = new pg.Pool({ connectionString: db.url, max: 8 });
        pools.push(pool);
        await insertLegacyData(pool, generateLegacyData({ seed, juntas: 8, loansPerJunta: 25 }));
        const config = configFor(db, { KAFKA_BROKERS: stack!.brokers.join(','), SCHEMA_REGISTRY_URL: stack!.registryUrl, TOPIC_PREFIX: `prop${seed}`, KAFKA_GROUP_ID: `prop-${seed}` });
        // capture and sync in separate processes, as in the compose stack (one sync: waitForCatchUp
        // waits for every sync to apply the newest heartbeat, which only the consumer of the heartbeat
        // topic's partition receives)
        procs.push(await startTestProcess(db, { config, mode: 'kafka', capture: true, sync: false, api: false }));
        procs.push(await startTestProcess(db, { config, mode: 'kafka', capture: false, sync: true, api: false }));
        await startMigrationFor(db, config);
        const writer = startLegacyWriter({ pool, seed: seed + 1, workers: 3, maxOperations: 800 });
        await writer.done;
        expect(writer.stats.errors).toEqual([]);
        await waitForCatchUp(db, 300_000);
        const report = await expectConsistent(db);
        expect(report.counts.loans).toBeGreaterThan(150);
        const subjects = (await (await fetch(`${stack!.registryUrl}/subjects`)).json()) as string[];
        expect(subjects).toContain(`prop${seed}.public.Prestamo-value`);
      }, 600_000);
    }

    it('reconciler happy path: start through the API with an admin token, catch up, every process ready', async () => {
      const db = await legacyDatabase(stack!.postgresUrl, 'reconciler_happy');
      dbs.push(db);
      const pool = new pg.Pool({ connectionString: db.url, max: 4 });
      pools.push(pool);
      await insertLegacyData(pool, generateLegacyData({ seed: 21, juntas: 5, loansPerJunta: 20 }));
      await migrate(db.url, { logger: silentLogger(), lockTimeoutMs: 2000 }); // the token table is a migration object
      const config = configFor(db, { KAFKA_BROKERS: stack!.brokers.join(','), SCHEMA_REGISTRY_URL: stack!.registryUrl, TOPIC_PREFIX: 'happy', KAFKA_GROUP_ID: 'happy' });
      const capture = await startTestProcess(db, { config, mode: 'kafka', capture: true, sync: false, api: false });
      const sync = await startTestProcess(db, { config, mode: 'kafka', capture: false, sync: true, api: false });
      const reconciler = await startTestProcess(db, { config, capture: false, sync: false, api: true });
      procs.push(capture, sync, reconciler);
      const { token } = await createToken(pool, 'admin', 'containers');
      const start = () => fetch(`${reconciler.url}/prestamos/migration/start`, { method: 'POST', headers: { authorization: `Bearer ${token}` } });
      const first = await start();
      expect(first.status).toBe(202);
      expect(await first.json()).toMatchObject({ status: 'started', slot: { name: config.slotName, action: 'created' } });
      const again = await start();
      expect(again.status).toBe(200);
      expect(await again.json()).toMatchObject({ status: 'already started' });
      expect((await fetch(`${reconciler.url}/prestamos/migration/start`, { method: 'POST' })).status).toBe(401);
      await waitForCatchUp(db, 300_000);
      await expectConsistent(db);
      for (const p of [capture, sync, reconciler]) {
        const ready = await fetch(`${p.url}/readyz`);
        expect(ready.status, p.url).toBe(200);
      }
    }, 600_000);
  },
);
