// The shared Kafka broker of a test run (the global setup's part): an Apache Kafka broker started here,
// external brokers from KAFKA_BROKERS, or none, with the reason. With CI=true a broker that cannot be had
// fails the run: CI never falls back silently.
import { kafkaInstallation, startApacheKafka, type ApacheKafka } from './apache-kafka.ts';
import type { SharedKafka } from './kafka-broker.ts';

export async function startSharedKafka(env: NodeJS.ProcessEnv): Promise<{ shared: SharedKafka; broker?: ApacheKafka }> {
  if (env.KAFKA_BROKERS) {
    return { shared: { kind: 'external', brokers: env.KAFKA_BROKERS.split(',').map((s) => s.trim()).filter(Boolean) } };
  }
  const install = kafkaInstallation();
  if (install instanceof Error) {
    if (env.CI === 'true') throw new Error(`CI needs Apache Kafka for the Kafka tests: ${install.message}`);
    process.stderr.write(`\nprestamos-cdc tests: ${install.message}\n  every Kafka-mode test is skipped in this run (they need Apache Kafka)\n\n`);
    return { shared: { kind: 'unavailable', brokers: [], reason: install.message } };
  }
  const broker = await startApacheKafka();
  process.stderr.write(`prestamos-cdc tests: Apache Kafka ${install.version} on ${broker.brokers[0]} (pid ${broker.pid}) started in ${broker.startMs} ms; log ${broker.logFile}\n`);
  return { shared: { kind: 'apache', brokers: broker.brokers }, broker };
}
