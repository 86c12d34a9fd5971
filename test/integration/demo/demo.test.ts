// `prestamos-cdc demo` as a user runs it (`node cli/main.ts demo …`, a real child process): its own
// embedded PostgreSQL, generated loans, the application writer, the pipeline inline, the API it prints,
// the snapshot's progress, the live consistency summary, and an orderly stop — at the end of --duration
// or on SIGINT — with a consistent verdict and exit code 0. It starts its own server (not the one of the
// global setup).
import { afterAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startCli, type CliProcess } from '../../support/cli-process.ts';
import { runCli } from '../../support/cli.ts';
import { call } from '../../support/http.ts';
import { waitFor } from '../../support/pipeline.ts';

const work = mkdtempSync(path.join(os.tmpdir(), 'prestamos-cdc-demo-test-'));
// the server runs as the postgres user when the tests run as root: it must reach a data directory in here
chmodSync(work, 0o755);
const procs: CliProcess[] = [];

function env(): Record<string, string> {
  return { LOG_LEVEL: 'info', ...(process.env.PG_BIN_DIR ? { PG_BIN_DIR: process.env.PG_BIN_DIR } : {}) };
}

async function demo(args: string[]): Promise<CliProcess> {
  const p = await startCli(['demo', ...args], env());
  procs.push(p);
  return p;
}

const TOKEN = /export TOKEN=(pcdc_\d+_[A-Za-z0-9_-]{43})/;
const SUMMARY = /^\d\d:\d\d:\d\d {2}loans 100% \(\d[\d,]* match[^)]*\) · payments 100% \(\d[\d,]* match[^)]*\) · ledger ok · juntas' capital ok (\d+)\/\1 · lag [\d,]+ ms · applied [\d,]+ changes · app wrote [\d,]+ tx$/m;
const VERDICT = /^verdict: CONSISTENT — [\d,]+ loans, [\d,]+ payments, [\d,]+ ledger movements and the capital of \d+ juntas are exactly what the legacy rows imply \(100%\)$/m;

function exitWithin(p: CliProcess, ms: number) {
  return Promise.race([p.exited, new Promise<'still running'>((r) => setTimeout(() => r('still running'), ms).unref())]);
}

afterAll(async () => {
  for (const p of procs) await p.stop(30_000);
  rmSync(work, { recursive: true, force: true });
});

describe('npm run demo', () => {
  it('runs for --duration: API, snapshot progress, live consistency, then a consistent verdict and exit 0', { timeout: 300_000 }, async () => {
    const log = path.join(work, 'duration.log');
    const p = await demo(['--duration', '20', '--loans', '300', '--interval', '3', '--log-file', log]);
    expect(p.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    const token = await waitFor('the printed token', async () => TOKEN.exec(p.output())?.[1]);
    expect(p.output()).toContain(`curl -s -H "Authorization: Bearer $TOKEN" ${p.url}/prestamos/migration/progress`);

    // the API it prints, while it runs
    expect((await call(p.url, 'GET', '/healthz')).status).toBe(200);
    expect((await call(p.url, 'GET', '/prestamos/migration/progress')).status).toBe(401);
    const first = await call(p.url, 'GET', '/prestamos/migration/progress', { token });
    expect(first.status).toBe(200);
    expect(first.body.tables.map((t: { table: string }) => t.table)).toEqual(['Prestamo', 'PagoPrestamo', 'Accion', 'Multa']);
    expect(first.body.tables[0].total).toBeGreaterThan(250);

    await waitFor('the first consistency summary', async () => SUMMARY.test(p.output()), 180_000);
    const streaming = await call(p.url, 'GET', '/prestamos/migration/progress', { token });
    expect(streaming.body.phase).toBe('streaming');
    const live = await call(p.url, 'GET', '/prestamos/migration/consistency', { token });
    expect(live.status).toBe(200);
    expect(live.body.consistent).toBe(true);

    const exit = await exitWithin(p, 240_000);
    const out = p.output();
    expect(exit, out.slice(-3000)).toEqual({ code: 0, signal: null });
    expect(out).toMatch(/^snapshot \[[#-]+\] +\d+\.\d\d% {2}loans [\d,]+\/[\d,]+ · payments/m);
    expect(out).toMatch(/^snapshot \[#+\] +done {2}[\d,]+ loans, [\d,]+ payments, [\d,]+ shares, [\d,]+ fines in the new tables/m);
    expect(out).toMatch(SUMMARY);
    expect(out).toContain('stopping (20 s are over): the application writer stopped after');
    expect(out).toMatch(VERDICT);
    // logs go to the file it names, not to the terminal
    expect(out).toContain(`logs: ${log}`);
    expect(out).not.toContain('"level"');
    expect(readFileSync(log, 'utf8')).toContain('"msg":"HTTP server listening"');
    // everything it started is stopped, and its temporary data directory removed
    const dataDir = /data directory (\S+) \(temporary\)/.exec(out)?.[1];
    expect(dataDir).toBeDefined();
    expect(existsSync(dataDir!)).toBe(false);
    await expect(fetch(`${p.url}/healthz`)).rejects.toThrow();
  });

  const dataDir = path.join(work, 'pgdata');

  it('stops in order on SIGINT: writer, catch-up, final check, verdict, exit 0', { timeout: 300_000 }, async () => {
    const p = await demo(['--loans', '300', '--interval', '2', '--data-dir', dataDir, '--log-file', path.join(work, 'sigint.log')]);
    await waitFor('a consistency summary', async () => SUMMARY.test(p.output()), 180_000);
    p.kill('SIGINT');
    const exit = await exitWithin(p, 150_000);
    const out = p.output();
    expect(exit, out.slice(-3000)).toEqual({ code: 0, signal: null });
    expect(out).toContain('SIGINT: stopping in order');
    expect(out).toContain('stopping (SIGINT): the application writer stopped after');
    expect(out).toMatch(VERDICT);
    expect(out).toContain(`the data is kept in ${dataDir}`);
    expect(existsSync(path.join(dataDir, 'PG_VERSION'))).toBe(true);
    expect(existsSync(path.join(dataDir, 'postmaster.pid'))).toBe(false); // the server is stopped
  });

  it('continues from a kept data directory: nothing generated again, the migration resumes, still consistent', { timeout: 300_000 }, async () => {
    const p = await demo(['--duration', '6', '--loans', '300', '--data-dir', dataDir, '--log-file', path.join(work, 'again.log')]);
    const exit = await exitWithin(p, 240_000);
    const out = p.output();
    expect(exit, out.slice(-3000)).toEqual({ code: 0, signal: null });
    expect(out).toMatch(/^legacy tables from an earlier run: \d+ juntas, [\d,]+ loans/m);
    expect(out).toContain('migration started in an earlier run');
    expect(out).toContain('snapshot: applied in an earlier run');
    expect(out).toMatch(VERDICT);
  });

  it('reports a real mismatch: the live line and the verdict name it, exit 1', { timeout: 300_000 }, async () => {
    const p = await demo(['--loans', '200', '--interval', '2', '--log-file', path.join(work, 'mismatch.log')]);
    await waitFor('a consistency summary', async () => SUMMARY.test(p.output()), 180_000);
    const port = /PostgreSQL \(wal_level=logical\) ready on 127\.0\.0\.1:(\d+)/.exec(p.output())![1];
    // a ledger movement that no legacy row implies (a fine that does not exist): the stream never touches it
    const client = new pg.Client({ connectionString: `postgresql://postgres@127.0.0.1:${port}/prestamos_demo` });
    await client.connect();
    try {
      await client.query(
        `INSERT INTO capital_movements (junta_id, type, direction, amount, description, multa_id)
         SELECT id, 'MULTA', 'IN', 12.34, 'not implied by any legacy row', 'zz-not-a-fine' FROM "Junta" ORDER BY id LIMIT 1`,
      );
    } finally {
      await client.end();
    }
    await waitFor('a summary showing the mismatch', async () => /· ledger 1 MISMATCHED ·/.test(p.output()), 60_000);
    p.kill('SIGINT');
    const exit = await exitWithin(p, 150_000);
    const out = p.output();
    expect(exit, out.slice(-3000)).toEqual({ code: 1, signal: null });
    expect(out).toMatch(/^verdict: MISMATCH — loans 100% \(0 differ\), payments 100% \(0 differ\), ledger rows differing: 1, /m);
    expect(out).toMatch(/^ {2}ledger MULTA zz-not-a-fine \(junta \S+\): expected 0(\.00)?, ledger 12\.34$/m);
    expect(out).not.toMatch(VERDICT);
  });

  it('refuses an invalid option, naming it', async () => {
    const zero = await runCli(['demo', '--loans', '0'], {});
    expect(zero.status).toBe(2);
    expect(zero.stdout).toMatch(/--loans must be a whole number from 1 to \d+/);
    const rate = await runCli(['demo', '--rate', 'fast'], {});
    expect(rate.status).toBe(2);
    expect(rate.stdout).toMatch(/--rate must be a whole number .*got "fast"/);
    const unknown = await runCli(['demo', '--speed', '3'], {});
    expect(unknown.status).toBe(2);
    expect(unknown.stderr).toContain("demo: Unknown option '--speed'");
  });
});
