// A real Apache Kafka broker for tests and benchmarks: one node in KRaft combined mode (broker and
// controller, no ZooKeeper), from the jars .ci/install-kafka.sh puts in .tools/kafka/<version>/lib.
//   - ports chosen free before the storage is formatted (the controller's address is part of it);
//   - `auto.create.topics.enable=false`, as on many production clusters: the product creates its topics;
//   - replication factor 1 for the internal topics, no initial rebalance delay;
//   - a small heap, its log in <dir>/broker.log, stopped by its PID (never by name).
// kill() is a SIGKILL; restart() starts it again on the same data directory and ports; pause() and
// resume() are SIGSTOP and SIGCONT.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createWriteStream, existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { portOutsideEphemeralRange } from './ports.ts';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

export interface ApacheKafka {
  brokers: string[];
  /** PID of the broker's JVM while it runs (it changes on restart). */
  readonly pid: number | undefined;
  dataDir: string;
  logFile: string;
  /** milliseconds from spawn to "Kafka Server started" at the first start */
  startMs: number;
  pause(): void;
  resume(): void;
  /** SIGKILL, and wait for the process to be gone. */
  kill(): Promise<void>;
  /** Start again on the same data directory and ports. */
  restart(): Promise<void>;
  /** Stop (SIGTERM, SIGKILL after 10 s) and remove the data directory. */
  stop(): Promise<void>;
}

export interface KafkaInstallation {
  version: string;
  libDir: string;
}

/** The pinned version (test/kafka/pom.xml) and where its jars are; an Error saying what is missing. */
export function kafkaInstallation(): KafkaInstallation | Error {
  const pom = readFileSync(path.join(REPO, 'test/kafka/pom.xml'), 'utf8');
  const version = /<kafka\.version>([^<]+)<\/kafka\.version>/.exec(pom)?.[1];
  if (!version) return new Error('test/kafka/pom.xml names no kafka.version');
  const dir = path.join(REPO, '.tools/kafka', version);
  if (!existsSync(path.join(dir, '.complete'))) {
    return new Error(`Apache Kafka ${version} is not installed in ${dir}: run \`bash .ci/install-kafka.sh\` (needs java and mvn)`);
  }
  const java = spawnSync('java', ['-version'], { encoding: 'utf8' });
  if (java.error || java.status !== 0) return new Error('java is not on PATH (OpenJDK 17 or newer)');
  return { version, libDir: path.join(dir, 'lib') };
}

function serverProperties(o: { brokerPort: number; controllerPort: number; dataDir: string; extra: Record<string, string> }): string {
  const props: Record<string, string> = {
    'process.roles': 'broker,controller',
    'node.id': '1',
    'controller.quorum.bootstrap.servers': `127.0.0.1:${o.controllerPort}`,
    listeners: `PLAINTEXT://127.0.0.1:${o.brokerPort},CONTROLLER://127.0.0.1:${o.controllerPort}`,
    'advertised.listeners': `PLAINTEXT://127.0.0.1:${o.brokerPort}`,
    'controller.listener.names': 'CONTROLLER',
    'inter.broker.listener.name': 'PLAINTEXT',
    'listener.security.protocol.map': 'CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT',
    'log.dirs': path.join(o.dataDir, 'data'),
    'auto.create.topics.enable': 'false',
    'num.partitions': '1',
    'offsets.topic.replication.factor': '1',
    'offsets.topic.num.partitions': '10',
    'transaction.state.log.replication.factor': '1',
    'transaction.state.log.min.isr': '1',
    'share.coordinator.state.topic.replication.factor': '1',
    'share.coordinator.state.topic.min.isr': '1',
    'group.initial.rebalance.delay.ms': '0',
    ...o.extra,
  };
  return Object.entries(props).map(([k, v]) => `${k}=${v}`).join('\n') + '\n';
}

const LOG4J2 = `Configuration:
  Appenders:
    Console:
      name: STDOUT
      PatternLayout:
        pattern: "[%d] %p %m (%c)%n"
  Loggers:
    Logger:
      - name: kafka
        level: INFO
      - name: org.apache.kafka
        level: INFO
      - name: state.change.logger
        level: WARN
    Root:
      level: INFO
      AppenderRef:
        - ref: STDOUT
`;

export interface StartApacheKafkaOptions {
  /** broker properties added to (or replacing) the defaults */
  properties?: Record<string, string>;
  /** JVM heap, e.g. "512m" */
  heap?: string;
  /** how long to wait for "Kafka Server started" */
  startTimeoutMs?: number;
}

export async function startApacheKafka(options: StartApacheKafkaOptions = {}): Promise<ApacheKafka> {
  const install = kafkaInstallation();
  if (install instanceof Error) throw install;
  const dataDir = await mkdtemp(path.join(os.tmpdir(), 'prestamos-cdc-kafka-'));
  // below the ephemeral range: restart() binds them again after an outage (test/support/ports.ts)
  const brokerPort = await portOutsideEphemeralRange();
  let controllerPort = await portOutsideEphemeralRange();
  while (controllerPort === brokerPort) controllerPort = await portOutsideEphemeralRange();
  const propsFile = path.join(dataDir, 'server.properties');
  const log4jFile = path.join(dataDir, 'log4j2.yaml');
  const logFile = path.join(dataDir, 'broker.log');
  await writeFile(propsFile, serverProperties({ brokerPort, controllerPort, dataDir, extra: options.properties ?? {} }));
  await writeFile(log4jFile, LOG4J2);
  const classpath = path.join(install.libDir, '*');
  const heap = options.heap ?? '512m';
  const jvm = [`-Xmx${heap}`, `-Xms${heap === '512m' ? '256m' : heap}`, '-XX:+UseG1GC', '-XX:TieredStopAtLevel=1', '-Xshare:auto',
    `-Dlog4j2.configurationFile=${log4jFile}`, '-Djava.awt.headless=true', '-cp', classpath];

  const uuid = spawnSync('java', ['-cp', classpath, 'kafka.tools.StorageTool', 'random-uuid'], { encoding: 'utf8' });
  if (uuid.status !== 0) throw new Error(`kafka StorageTool random-uuid failed: ${uuid.stderr}`);
  const format = spawnSync(
    'java',
    [...jvm, 'kafka.tools.StorageTool', 'format', '--standalone', '-t', uuid.stdout.trim(), '-c', propsFile],
    { encoding: 'utf8' },
  );
  if (format.status !== 0) throw new Error(`kafka StorageTool format failed: ${format.stdout}\n${format.stderr}`);

  let child: ChildProcess | undefined;
  let exited: Promise<void> = Promise.resolve();
  let paused = false;
  const timeoutMs = options.startTimeoutMs ?? 120_000;

  const launch = async (): Promise<number> => {
    const started = Date.now();
    const out = createWriteStream(logFile, { flags: 'a' });
    const c = spawn('java', [...jvm, 'kafka.Kafka', propsFile], { stdio: ['ignore', 'pipe', 'pipe'] });
    child = c;
    exited = new Promise<void>((resolve) => c.on('exit', () => (out.end(), resolve())));
    await new Promise<void>((resolve, reject) => {
      let tail = '';
      const timer = setTimeout(
        () => reject(new Error(`Apache Kafka did not start within ${timeoutMs} ms (log: ${logFile}): ${tail.slice(-3000)}`)),
        timeoutMs,
      );
      const onData = (d: Buffer) => {
        out.write(d);
        tail = (tail + d.toString()).slice(-20_000);
        if (tail.includes('Kafka Server started')) {
          clearTimeout(timer);
          resolve();
        }
      };
      c.stdout!.on('data', onData);
      c.stderr!.on('data', (d: Buffer) => out.write(d));
      c.on('error', (err) => (clearTimeout(timer), reject(new Error(`cannot run java: ${err.message}`))));
      c.on('exit', (code, signal) => {
        if (!tail.includes('Kafka Server started')) {
          clearTimeout(timer);
          reject(new Error(`Apache Kafka exited (${code ?? signal}) before it started (log: ${logFile}): ${tail.slice(-3000)}`));
        }
      });
    });
    return Date.now() - started;
  };

  const terminate = async (signal: NodeJS.Signals): Promise<void> => {
    const c = child;
    if (!c || c.exitCode !== null || c.signalCode !== null) return;
    if (paused) {
      process.kill(c.pid!, 'SIGCONT');
      paused = false;
    }
    process.kill(c.pid!, signal);
    const force = signal === 'SIGKILL' ? undefined : setTimeout(() => c.exitCode === null && c.signalCode === null && process.kill(c.pid!, 'SIGKILL'), 10_000);
    await exited;
    if (force) clearTimeout(force);
  };

  let startMs: number;
  try {
    startMs = await launch();
  } catch (err) {
    await terminate('SIGKILL').catch(() => undefined);
    throw err;
  }
  return {
    brokers: [`127.0.0.1:${brokerPort}`],
    get pid() {
      return child?.exitCode === null && child.signalCode === null ? child.pid : undefined;
    },
    dataDir,
    logFile,
    startMs,
    pause() {
      if (child?.pid && !paused) {
        process.kill(child.pid, 'SIGSTOP');
        paused = true;
      }
    },
    resume() {
      if (child?.pid && paused) {
        process.kill(child.pid, 'SIGCONT');
        paused = false;
      }
    },
    async kill() {
      await terminate('SIGKILL');
    },
    async restart() {
      await terminate('SIGTERM');
      await launch();
    },
    async stop() {
      await terminate('SIGTERM');
      if (!process.env.KEEP_KAFKA_DATA) await rm(dataDir, { recursive: true, force: true });
    },
  };
}
