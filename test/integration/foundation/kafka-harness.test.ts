// The harness itself: a kafkajs producer and consumer group round trip through the broker the tests
// use (the run's Apache Kafka broker, or KAFKA_BROKERS), with offsets committed and read back, and the
// broker's production-like settings: topics are not created by a produce.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Kafka, logLevel } from 'kafkajs';
import { installRequestQueueFix } from '../../../connectors/kafka/kafkajs-request-queue-fix.ts';
import { kafkaAvailable, startTestKafka, type TestKafka } from '../../support/kafka-broker.ts';

let kafka: TestKafka;
beforeAll(async () => {
  installRequestQueueFix();
  kafka = await startTestKafka();
});
afterAll(async () => {
  await kafka?.stop();
});

describe.skipIf(!kafkaAvailable())('test Kafka broker', () => {
  it('refuses to create a topic by producing to it (auto.create.topics.enable=false)', async () => {
    const client = new Kafka({ clientId: 'harness', brokers: kafka.brokers, logLevel: logLevel.NOTHING, retry: { retries: 1 } });
    const producer = client.producer({ allowAutoTopicCreation: true, retry: { retries: 1 } });
    await producer.connect();
    const topic = `harness-missing-${Date.now()}`;
    await expect(producer.send({ topic, acks: -1, messages: [{ value: 'x' }] })).rejects.toThrow();
    await producer.disconnect();
    const admin = client.admin();
    await admin.connect();
    expect(await admin.listTopics()).not.toContain(topic);
    await admin.disconnect();
  });

  it('round-trips keyed messages through a consumer group and keeps committed offsets', async () => {
    const topic = `harness-${Date.now()}`;
    const client = new Kafka({ clientId: 'harness', brokers: kafka.brokers, logLevel: logLevel.NOTHING });
    const setup = client.admin();
    await setup.connect();
    await setup.createTopics({ waitForLeaders: true, topics: [{ topic, numPartitions: 3, replicationFactor: 1 }] });
    await setup.disconnect();
    const producer = client.producer({ idempotent: true, maxInFlightRequests: 1 });
    await producer.connect();
    const sent = Array.from({ length: 500 }, (_, i) => ({ key: `k${i % 37}`, value: JSON.stringify({ i }) }));
    await producer.send({ topic, acks: -1, messages: sent });

    const consumer = client.consumer({ groupId: `${topic}-g` });
    await consumer.connect();
    await consumer.subscribe({ topic, fromBeginning: true });
    const received: { key: string; i: number; partition: number }[] = [];
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`only ${received.length} of 500 received`)), 60_000);
      void consumer.run({
        autoCommit: false,
        eachBatch: async ({ batch }) => {
          for (const m of batch.messages) {
            received.push({ key: m.key!.toString(), i: JSON.parse(m.value!.toString()).i, partition: batch.partition });
          }
          await consumer.commitOffsets([
            { topic: batch.topic, partition: batch.partition, offset: String(Number(batch.lastOffset()) + 1) },
          ]);
          if (received.length >= 500) {
            clearTimeout(timer);
            resolve();
          }
        },
      });
    });
    await consumer.disconnect();

    expect(received.map((r) => r.i).sort((a, b) => a - b)).toEqual(sent.map((_, i) => i));
    // One key, one partition: per-key order is what the pipeline relies on.
    const partitionsByKey = new Map<string, Set<number>>();
    for (const r of received) partitionsByKey.set(r.key, (partitionsByKey.get(r.key) ?? new Set()).add(r.partition));
    for (const set of partitionsByKey.values()) expect(set.size).toBe(1);
    for (const key of partitionsByKey.keys()) {
      const order = received.filter((r) => r.key === key).map((r) => r.i);
      expect(order).toEqual([...order].sort((a, b) => a - b));
    }

    const admin = client.admin();
    await admin.connect();
    const committed = await admin.fetchOffsets({ groupId: `${topic}-g`, topics: [topic] });
    const ends = await admin.fetchTopicOffsets(topic);
    await admin.disconnect();
    await producer.disconnect();
    const total = committed[0]!.partitions.reduce((s, p) => s + Number(p.offset), 0);
    expect(total).toBe(500);
    expect(ends.reduce((s, p) => s + Number(p.high), 0)).toBe(500);
  });
});
