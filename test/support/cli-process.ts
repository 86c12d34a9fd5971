// prestamos-cdc processes started the way an operator starts them (`node cli/main.ts <command>`), as
// real child processes that a test can SIGKILL, SIGTERM, SIGSTOP. Each is stopped by its own PID.
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { warningsIn } from './node-warnings.ts';

const CLI = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../cli/main.ts');

export interface CliProcess {
  pid: number;
  /** http://host:port of its HTTP server, once it listens */
  url: string;
  output(): string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  hasExited(): boolean;
  kill(signal?: NodeJS.Signals): void;
  /** SIGTERM, then SIGKILL if it has not exited within `ms`; rejects if the process printed a Node warning */
  stop(ms?: number): Promise<void>;
}

export async function startCli(args: string[], env: Record<string, string>, options: { waitForListening?: boolean } = {}): Promise<CliProcess> {
  const child: ChildProcess = spawn(process.execPath, [CLI, ...args], {
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', HTTP_HOST: '127.0.0.1', HTTP_PORT: '0', LOG_LEVEL: 'warn', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  if (child.pid === undefined) throw new Error(`could not start prestamos-cdc ${args.join(' ')}`);
  let out = '';
  const append = (d: Buffer) => {
    out += d.toString();
    if (out.length > 20_000_000) out = out.slice(-10_000_000);
  };
  child.stdout!.on('data', append);
  child.stderr!.on('data', append);
  let done = false;
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on('exit', (code, signal) => {
      done = true;
      resolve({ code, signal });
    }),
  );
  let url = '';
  if (options.waitForListening !== false) {
    url = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`prestamos-cdc ${args.join(' ')} did not start listening:\n${out}`)), 60_000);
      const check = () => {
        const m = /listening on (http:\/\/[^\s]+)/.exec(out);
        if (m) {
          clearTimeout(timer);
          resolve(m[1]!);
        }
      };
      child.stdout!.on('data', check);
      void exited.then(() => {
        clearTimeout(timer);
        reject(new Error(`prestamos-cdc ${args.join(' ')} exited before listening:\n${out}`));
      });
    });
  }
  const pid = child.pid;
  return {
    pid,
    url,
    output: () => out,
    exited,
    hasExited: () => done,
    kill(signal: NodeJS.Signals = 'SIGTERM') {
      if (!done) process.kill(pid, signal);
    },
    async stop(ms = 30_000) {
      if (!done) {
        process.kill(pid, 'SIGCONT');
        process.kill(pid, 'SIGTERM');
        const t = setTimeout(() => !done && process.kill(pid, 'SIGKILL'), ms);
        await exited;
        clearTimeout(t);
      }
      const warnings = warningsIn(out);
      if (warnings.length > 0) throw new Error(`prestamos-cdc ${args.join(' ')} (pid ${pid}) printed Node warnings:\n${warnings.join('\n')}`);
    },
  };
}

/** The value of one Prometheus metric sample (sum over the samples whose labels match). */
export async function metricValue(url: string, name: string, labels: Record<string, string> = {}): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  let sum = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)/.exec(line);
    if (!m || m[1] !== name) continue;
    const ok = Object.entries(labels).every(([k, v]) => (m[2] ?? '').includes(`${k}="${v}"`));
    if (ok) sum += Number(m[3]);
  }
  return sum;
}
