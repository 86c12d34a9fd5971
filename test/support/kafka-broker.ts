// The Kafka the tests use: a real Apache Kafka broker (test/support/apache-kafka.ts), started once per
// test run by the global setup and shared by every test file; files keep apart by topic prefix and
// consumer group (configFor() derives both from the file's database name). A test that pauses, kills or
// restarts a broker starts one of its own with startDedicatedKafka().
// KAFKA_BROKERS=host:port[,…] runs the suite against external brokers instead (dedicated brokers are
// then still started locally).
// Without Java or the installed jars (.ci/install-kafka.sh) the Kafka tests are skipped, and the global
// setup prints why; with CI=true the run fails instead.
import { inject } from 'vitest';
import { startApacheKafka, type ApacheKafka } from './apache-kafka.ts';

export interface TestKafka {
  brokers: string[];
  /** PID of the broker process this harness started for the file (undefined for the shared one). */
  readonly pid: number | undefined;
  pause(): void;
  resume(): void;
  kill(): Promise<void>;
  restart(): Promise<void>;
  stop(): Promise<void>;
}

export interface SharedKafka {
  /** bootstrap addresses; empty when no broker could be had */
  brokers: string[];
  kind: 'apache' | 'external' | 'unavailable';
  /** why it is unavailable */
  reason?: string;
}

declare module 'vitest' {
  export interface ProvidedContext {
    kafka: SharedKafka;
  }
}

/** False when the run has no broker: Kafka suites skip themselves with `describe.skipIf(!kafkaAvailable())`. */
export function kafkaAvailable(): boolean {
  return inject('kafka').kind !== 'unavailable';
}

function refuse(what: string): never {
  throw new Error(`the shared test broker cannot be ${what}: use startDedicatedKafka() in a test that does that`);
}

/**
 * The run's shared broker. stop() only forgets it (the global teardown stops the broker). Without a
 * broker it has no addresses: the suites that use it are skipped (kafkaAvailable()).
 */
export async function startTestKafka(): Promise<TestKafka> {
  const shared = inject('kafka');
  return {
    brokers: shared.brokers,
    pid: undefined,
    pause: () => refuse('paused'),
    resume: () => refuse('resumed'),
    kill: async () => refuse('killed'),
    restart: async () => refuse('restarted'),
    async stop() {},
  };
}

/** A broker of the file's own, for tests that pause, kill or restart it (Apache Kafka, started here). */
export async function startDedicatedKafka(): Promise<TestKafka> {
  const broker: ApacheKafka = await startApacheKafka();
  return broker;
}
