// A Kafka-protocol broker for tests: librdkafka's mock cluster, embedded in Debian's `kcat`.
//   kcat -b x:1 -X test.mock.num.brokers=1 -X debug=mock -C -t keepalive -o end
// prints `bootstrap.servers=127.0.0.1:PORT` on stderr and serves until killed. What it lacks
// (DEVELOPERS.md): CreateTopics and a controller (no idempotent producer, no admin topic creation;
// topics auto-create with 4 partitions), and it keeps only the newest 5 MiB / 100,000 messages per
// partition. Killing it loses its data; pause() (SIGSTOP) and resume() (SIGCONT) make it unreachable
// for a while without loss.
// KAFKA_BROKERS=host:port[,…] uses external brokers instead (then pause/resume/stop do nothing).
import { spawn, type ChildProcess } from 'node:child_process';

export interface TestKafka {
  brokers: string[];
  /** PID of the broker process this harness started (undefined for external brokers). */
  pid: number | undefined;
  external: boolean;
  pause(): void;
  resume(): void;
  stop(): Promise<void>;
}

export async function startTestKafka(): Promise<TestKafka> {
  const external = process.env.KAFKA_BROKERS;
  if (external) {
    return {
      brokers: external.split(',').map((s) => s.trim()),
      pid: undefined,
      external: true,
      pause() {},
      resume() {},
      async stop() {},
    };
  }
  const child: ChildProcess = spawn(
    'kcat',
    ['-b', 'x:1', '-X', 'test.mock.num.brokers=1', '-X', 'debug=mock', '-C', '-t', 'keepalive', '-o', 'end', '-q'],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  const pid = child.pid;
  if (pid === undefined) throw new Error('kcat did not start: is Debian\'s kcat installed? (.ci/run installs it)');
  let exited = false;
  const exitPromise = new Promise<void>((resolve) => child.on('exit', () => ((exited = true), resolve())));
  const broker = await new Promise<string>((resolve, reject) => {
    let buf = '';
    const timer = setTimeout(() => reject(new Error(`kcat mock cluster did not report its address: ${buf.slice(0, 2000)}`)), 15_000);
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(new Error(`cannot run kcat (${err.message}); install Debian's kcat package`));
    });
    child.stderr!.on('data', (d: Buffer) => {
      if (buf.length < 100_000) buf += d.toString();
      const m = /bootstrap\.servers=(127\.0\.0\.1:\d+)/.exec(buf);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]!);
      }
    });
  });
  // The mock logs every request at debug level: keep draining stderr so it never blocks.
  child.stderr!.removeAllListeners('data');
  child.stderr!.on('data', () => undefined);
  let paused = false;
  return {
    brokers: [broker],
    pid,
    external: false,
    pause() {
      if (!exited && !paused) {
        process.kill(pid, 'SIGSTOP');
        paused = true;
      }
    },
    resume() {
      if (!exited && paused) {
        process.kill(pid, 'SIGCONT');
        paused = false;
      }
    },
    async stop() {
      if (exited) return;
      if (paused) process.kill(pid, 'SIGCONT');
      process.kill(pid, 'SIGTERM');
      const t = setTimeout(() => !exited && process.kill(pid, 'SIGKILL'), 5000);
      await exitPromise;
      clearTimeout(t);
    },
  };
}
