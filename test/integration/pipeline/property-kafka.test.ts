// The property scenario (test/support/scenarios.ts) through Kafka (the mock broker) with Avro and a
// Schema Registry double: capture and sync in separate processes — the sync scaled to two consumers of
// one group — and the legacy tables gaining a column mid-stream (a new, backward-compatible schema
// version).
import { afterEach, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../../support/database.ts';
import { kafkaAvailable, startTestKafka } from '../../support/kafka-broker.ts';
import { startSchemaRegistryDouble } from '../../support/schema-registry-double.ts';
import { startTestProcess, configFor } from '../../support/pipeline.ts';
import { runPropertyScenario } from '../../support/scenarios.ts';
import type { RunningProcess } from '../../../services/orchestrator/process-runner.ts';

const SEEDS = process.env.PROPERTY_SEEDS ? process.env.PROPERTY_SEEDS.split(',').map(Number) : [303];
const cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
});

describe.skipIf(!kafkaAvailable())('property: Kafka + Avro pipeline under a random concurrent workload', () => {
  for (const seed of SEEDS) {
    it(`seed ${seed}: new tables and ledger equal what the legacy rows imply`, async () => {
      const db: TestDatabase = await createTestDatabase('legacy');
      cleanup.push(() => db.drop());
      const kafka = await startTestKafka();
      cleanup.push(() => kafka.stop());
      const registry = await startSchemaRegistryDouble();
      cleanup.push(() => registry.stop());
      const config = configFor(db, {
        KAFKA_BROKERS: kafka.brokers.join(','),
        SCHEMA_REGISTRY_URL: registry.url,
        TOPIC_PREFIX: `prop${seed}`,
        SNAPSHOT_CHUNK_SIZE: '100',
        APPLY_BATCH_SIZE: '500',
      });
      const procs: RunningProcess[] = [];
      cleanup.push(async () => {
        for (const p of procs) await p.stop();
      });
      await runPropertyScenario({
        db,
        config,
        seed,
        startPipeline: async () => {
          procs.push(await startTestProcess(db, { config, mode: 'kafka', capture: true, sync: false }));
          procs.push(await startTestProcess(db, { config, mode: 'kafka', capture: false, sync: true }));
          procs.push(await startTestProcess(db, { config, mode: 'kafka', capture: false, sync: true }));
        },
      });
      // Avro really was used, and the added column produced a second schema version.
      const prestamoVersions = registry.subjects().get(`prop${seed}.public.Prestamo-value`) ?? [];
      expect(prestamoVersions.length).toBeGreaterThanOrEqual(2);
      expect(prestamoVersions.at(-1)!.schema).toContain('canal');
    });
  }
});
