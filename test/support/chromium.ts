// Debian's Chromium, headless, for tests of pages the services render: a screenshot and the DOM after
// load. Each run gets a fresh profile directory (removed after) and the flags that keep Chromium from
// reaching the network on its own.
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const CANDIDATES = ['/usr/bin/chromium', '/usr/bin/chromium-browser'];

export function chromiumPath(): string {
  const found = CANDIDATES.find((p) => existsSync(p));
  if (!found) throw new Error('Chromium is needed for this test: apt-get install chromium (.ci/install-system-tools.sh installs it)');
  return found;
}

const FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--hide-scrollbars'];

async function run(args: string[], timeoutMs: number): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const profile = await mkdtemp(path.join(os.tmpdir(), 'chromium-profile-'));
  try {
    return await new Promise((resolve, reject) => {
      const child = spawn(chromiumPath(), [...FLAGS, `--user-data-dir=${profile}`, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      const timer = setTimeout(() => {
        child.kill('SIGKILL');
        reject(new Error(`chromium ${args.join(' ')} did not finish in ${timeoutMs} ms: ${stderr.slice(-2000)}`));
      }, timeoutMs);
      child.on('error', (err) => {
        clearTimeout(timer);
        reject(err);
      });
      child.on('close', (code) => {
        clearTimeout(timer);
        resolve({ code, stdout, stderr });
      });
    });
  } finally {
    await rm(profile, { recursive: true, force: true });
  }
}

/** The page's DOM after load, serialised. */
export async function dumpDom(url: string, timeoutMs = 120_000): Promise<string> {
  const r = await run(['--dump-dom', url], timeoutMs);
  if (r.code !== 0) throw new Error(`chromium --dump-dom exited ${r.code}: ${r.stderr.slice(-2000)}`);
  return r.stdout;
}

/** A PNG screenshot of the page at the given window size. */
export async function screenshot(url: string, file: string, size = { width: 1200, height: 1600 }, timeoutMs = 120_000): Promise<void> {
  const r = await run([`--screenshot=${file}`, `--window-size=${size.width},${size.height}`, url], timeoutMs);
  if (r.code !== 0) throw new Error(`chromium --screenshot exited ${r.code}: ${r.stderr.slice(-2000)}`);
}
