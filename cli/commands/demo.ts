// demo [--loans N] [--seed N] [--rate N] [--duration S] [--interval S] [--data-dir DIR] [--log-file FILE]:
// the whole migration on an embedded PostgreSQL, inline (services/demo/demo-runner.ts). Logs go to a
// file; the terminal shows the progress, the live consistency and the verdict. SIGINT/SIGTERM stop it
// in order (exit 0 when the final check is 100 %, 1 on a mismatch); a second one exits at once.
import os from 'node:os';
import path from 'node:path';
import { createFileLogger } from '../../services/runtime/logger.ts';
import { Demo } from '../../services/demo/demo-runner.ts';
import { createTerminal } from '../../services/demo/terminal.ts';
import type { Command } from './types.ts';

/** A second signal this soon after the first is the same Ctrl-C, delivered by the terminal and by `npm run`. */
const SAME_SIGNAL_MS = 1000;

const INTEGER_OPTIONS = {
  loans: { min: 1, max: 1_000_000, default: 3000, what: 'loans to generate' },
  seed: { min: 0, max: 4_294_967_295, default: 42, what: 'seed of the generated data and of the writer' },
  rate: { min: 1, max: 10_000, default: 20, what: 'application transactions per second' },
  duration: { min: 0, max: 604_800, default: 0, what: 'seconds to run after the migration starts (0: until Ctrl-C)' },
  interval: { min: 1, max: 3600, default: 5, what: 'seconds between two consistency summaries' },
} as const;

type IntegerOption = keyof typeof INTEGER_OPTIONS;

/** The value of a whole-number option, or a message naming the option. */
export function integerOption(name: IntegerOption, raw: string | boolean | undefined): number | string {
  const spec = INTEGER_OPTIONS[name];
  if (raw === undefined) return spec.default;
  const text = String(raw).trim();
  const n = /^\d{1,10}$/.test(text) ? Number(text) : NaN;
  if (!Number.isSafeInteger(n) || n < spec.min || n > spec.max) {
    return `--${name} must be a whole number from ${spec.min} to ${spec.max} (${spec.what}); got "${String(raw)}"`;
  }
  return n;
}

export const demoCommand: Command = {
  summary: 'the demo: embedded PostgreSQL, generated loans, an application writing, the pipeline inline, snapshot progress, live consistency, verdict (--loans, --seed, --rate, --duration, --interval, --data-dir, --log-file)',
  options: {
    loans: { type: 'string' },
    seed: { type: 'string' },
    rate: { type: 'string' },
    duration: { type: 'string' },
    interval: { type: 'string' },
    'data-dir': { type: 'string' },
    'log-file': { type: 'string' },
  },
  async run(ctx) {
    const values: Partial<Record<IntegerOption, number>> = {};
    for (const name of Object.keys(INTEGER_OPTIONS) as IntegerOption[]) {
      const v = integerOption(name, ctx.values[name]);
      if (typeof v === 'string') {
        ctx.out(v);
        return 2;
      }
      values[name] = v;
    }
    const pathOption = (name: 'data-dir' | 'log-file'): string | undefined | null => {
      const raw = ctx.values[name];
      if (raw === undefined) return undefined;
      const text = String(raw).trim();
      if (!text) {
        ctx.out(`--${name} must name a path`);
        return null;
      }
      return path.resolve(text);
    };
    const dataDir = pathOption('data-dir');
    const logFileOption = pathOption('log-file');
    if (dataDir === null || logFileOption === null) return 2;
    const logFile = logFileOption ?? path.join(os.tmpdir(), `prestamos-cdc-demo-${new Date().toISOString().replace(/[:.]/g, '-')}-${process.pid}.log`);

    if (ctx.config.databaseUrl) ctx.out('note: the demo runs its own PostgreSQL; DATABASE_URL is not used');
    if (ctx.config.kafka.brokers) ctx.out('note: the demo runs inline; KAFKA_BROKERS is not used');

    const { logger, close } = createFileLogger({ level: ctx.config.logLevel, name: 'prestamos-cdc demo', file: logFile });
    const terminal = createTerminal(process.stdout);
    const demo = new Demo({
      config: ctx.config,
      logger,
      logFile,
      terminal,
      loans: values.loans!,
      seed: values.seed!,
      rate: values.rate!,
      durationSeconds: values.duration!,
      intervalSeconds: values.interval!,
      dataDir,
      binDir: ctx.env.PG_BIN_DIR || undefined,
    });
    let firstSignalAt = 0;
    const onSignal = (signal: NodeJS.Signals) => {
      const now = Date.now();
      if (firstSignalAt === 0) {
        firstSignalAt = now;
        logger.info({ signal }, 'demo: stopping');
        terminal.line(`${signal}: stopping in order (again to exit at once)`);
        demo.requestStop(signal);
        return;
      }
      if (now - firstSignalAt < SAME_SIGNAL_MS) return;
      const left = demo.stopServerNow();
      process.stdout.write(`\n${signal} again: exiting at once${left ? `; PostgreSQL is told to stop and its data directory is left in ${left}` : ''}\n`);
      process.exit(130);
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
    try {
      return (await demo.run()).exitCode;
    } finally {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
      await close();
    }
  },
};
