// Runs the benchmarks and prints a table of their checks.
//   npm run bench                          every benchmark
//   npm run bench -- throughput lag        some of them
//   npm run bench -- throughput --only inline
//   npm run bench -- --scale 0.1           a quick run (every size × 0.1)
// Each writes bench/results/<name>.json; docs/BENCHMARKS.md describes them and the figures measured.
import { parseArgs } from 'node:util';
import type { BenchOptions, BenchResult } from './support.ts';

type Runner = (o: BenchOptions, args: string[]) => Promise<BenchResult>;

const BENCHMARKS: Record<string, () => Promise<Runner>> = {
  throughput: async () => (await import('./throughput.ts')).run,
  snapshot: async () => (await import('./snapshot.ts')).run,
  'source-writes': async () => (await import('./source-writes.ts')).run,
  lag: async () => (await import('./lag.ts')).run,
  memory: async () => (await import('./memory.ts')).run,
};

function usage(): string {
  return `usage: npm run bench -- [${Object.keys(BENCHMARKS).join('|')} …] [--scale N] [--reps N] [--seconds N] [--only MODE]`;
}

async function main(): Promise<number> {
  const { values, positionals } = parseArgs({
    args: process.argv.slice(2),
    allowPositionals: true,
    options: {
      scale: { type: 'string', default: '1' },
      reps: { type: 'string', default: '2' },
      seconds: { type: 'string', default: '20' },
      only: { type: 'string', multiple: true },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    console.log(usage());
    return 0;
  }
  const names = positionals.length ? positionals : Object.keys(BENCHMARKS);
  for (const n of names) {
    if (!BENCHMARKS[n]) {
      console.error(`unknown benchmark "${n}"\n${usage()}`);
      return 2;
    }
  }
  const scale = Number(values.scale);
  if (!(scale > 0)) {
    console.error('--scale must be a positive number');
    return 2;
  }
  const o: BenchOptions = {
    scale,
    reps: Math.max(1, Number(values.reps)),
    seconds: Math.max(2, Number(values.seconds)),
    log: (line) => console.log(`${new Date().toISOString().slice(11, 19)} ${line}`),
  };
  const results: BenchResult[] = [];
  let failed = false;
  for (const n of names) {
    o.log(`== ${n} (scale ${scale})`);
    try {
      const r = await (await BENCHMARKS[n]!())(o, values.only ?? []);
      results.push(r);
      for (const note of r.notes) o.log(`  note: ${note}`);
    } catch (err) {
      failed = true;
      o.log(`${n} failed: ${(err as Error).stack ?? err}`);
    }
  }
  const rows = results.flatMap((r) => r.checks.map((c) => [r.name, c.name, c.value === null ? '—' : String(c.value), c.target, c.pass ? 'pass' : 'MISS']));
  const header = ['benchmark', 'check', 'value', 'target', ''];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i]!)).join('  ');
  console.log('\n' + line(header));
  console.log(widths.map((w) => '-'.repeat(w)).join('  '));
  for (const r of rows) console.log(line(r));
  console.log(`\nresults: bench/results/<name>.json`);
  return failed ? 1 : 0;
}

main().then(
  (code) => {
    process.exitCode = code;
    setTimeout(() => process.exit(code), 500).unref();
  },
  (err) => {
    console.error(err);
    process.exit(1);
  },
);
