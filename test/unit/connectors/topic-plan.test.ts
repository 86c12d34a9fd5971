import { describe, expect, it } from 'vitest';
import { planTopics, minInsyncReplicasFor, type ExistingTopic, type TopicSettings } from '../../../connectors/kafka/topic-plan.ts';

const settings: TopicSettings = { partitions: 6, replicationFactor: 3, retentionMs: -1, retentionBytes: -1, maxMessageBytes: 1_048_588 };
const wanted = [
  { name: 'junta.public.Prestamo', role: 'table' as const },
  { name: 'junta.prestamos_cdc.dlq', role: 'dead-letter' as const },
];
const existing = (o: Partial<ExistingTopic> & { configs?: Record<string, string> }): ExistingTopic => ({
  name: 'junta.public.Prestamo',
  partitions: 6,
  replicationFactor: 3,
  ...o,
  configs: { 'cleanup.policy': 'delete', 'retention.ms': '-1', 'retention.bytes': '-1', 'min.insync.replicas': '2', ...o.configs },
});

describe('planTopics', () => {
  it('creates missing topics with the configured partitions, unlimited retention and min.insync.replicas RF-1', () => {
    const plan = planTopics({ wanted, existing: [], settings, brokerCount: 3 });
    expect(plan.refusals).toEqual([]);
    expect(plan.warnings).toEqual([]);
    expect(plan.create).toEqual(
      wanted.map((w) => ({
        name: w.name,
        partitions: 6,
        replicationFactor: 3,
        configs: { 'cleanup.policy': 'delete', 'retention.ms': '-1', 'retention.bytes': '-1', 'min.insync.replicas': '2', 'max.message.bytes': '1048588' },
      })),
    );
  });

  it('caps the replication factor at the cluster size, with a warning', () => {
    const plan = planTopics({ wanted, existing: [], settings, brokerCount: 1 });
    expect(plan.create.map((t) => [t.replicationFactor, t.configs['min.insync.replicas']])).toEqual([[1, '1'], [1, '1']]);
    expect(plan.warnings.join()).toMatch(/cluster has 1 broker/);
  });

  it('uses an existing topic that keeps the guarantees', () => {
    const plan = planTopics({ wanted: [wanted[0]!], existing: [existing({})], settings, brokerCount: 3 });
    expect(plan).toEqual({ create: [], use: ['junta.public.Prestamo'], refusals: [], warnings: [] });
  });

  it('refuses a table topic with fewer partitions than configured, naming topic, setting and remedy', () => {
    const plan = planTopics({ wanted: [wanted[0]!], existing: [existing({ partitions: 4 })], settings, brokerCount: 3 });
    expect(plan.refusals).toHaveLength(1);
    expect(plan.refusals[0]).toMatch(/topic junta\.public\.Prestamo has 4 partitions but KAFKA_TOPIC_PARTITIONS is 6.*KAFKA_TOPIC_PARTITIONS=4/);
  });

  it('accepts more partitions than configured, and any partition count for the dead-letter topic', () => {
    const plan = planTopics({
      wanted,
      existing: [existing({ partitions: 12 }), existing({ name: 'junta.prestamos_cdc.dlq', partitions: 1 })],
      settings,
      brokerCount: 3,
    });
    expect(plan.refusals).toEqual([]);
    expect(plan.use).toEqual(['junta.public.Prestamo', 'junta.prestamos_cdc.dlq']);
    expect(plan.warnings.join()).toMatch(/12 partitions/);
  });

  it('refuses compaction, short retention and an impossible min.insync.replicas, each with its fix', () => {
    const plan = planTopics({
      wanted: [wanted[0]!],
      existing: [existing({ configs: { 'cleanup.policy': 'compact,delete', 'retention.ms': '604800000', 'retention.bytes': '1073741824', 'min.insync.replicas': '4' } })],
      settings,
      brokerCount: 3,
    });
    expect(plan.use).toEqual([]);
    expect(plan.refusals).toHaveLength(4);
    expect(plan.refusals[0]).toMatch(/cleanup\.policy=compact,delete.*--add-config cleanup\.policy=delete/);
    expect(plan.refusals[1]).toMatch(/retention\.ms=604800000, below KAFKA_TOPIC_RETENTION_MS \(unlimited \(-1\)\).*retention\.ms=-1/);
    expect(plan.refusals[2]).toMatch(/retention\.bytes=1073741824/);
    expect(plan.refusals[3]).toMatch(/min\.insync\.replicas=4 above its replication factor 3/);
  });

  it('accepts a finite retention at least as long as a finite configured one', () => {
    const week = 604_800_000;
    const ok = planTopics({ wanted: [wanted[0]!], existing: [existing({ configs: { 'retention.ms': String(2 * week) } })], settings: { ...settings, retentionMs: week }, brokerCount: 3 });
    expect(ok.refusals).toEqual([]);
    const short = planTopics({ wanted: [wanted[0]!], existing: [existing({ configs: { 'retention.ms': String(week - 1) } })], settings: { ...settings, retentionMs: week }, brokerCount: 3 });
    expect(short.refusals).toHaveLength(1);
  });

  it('min.insync.replicas is RF-1, at least 1', () => {
    expect([1, 2, 3, 5].map(minInsyncReplicasFor)).toEqual([1, 1, 2, 4]);
  });
});
