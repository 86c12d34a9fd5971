#!/usr/bin/env node
// prestamos-cdc command line: the entry point, and the only module that reads the environment.
//   npm run cli -- <command> [options]
import { parseArgs } from 'node:util';
import { loadConfig, ConfigError, CONFIG_VARIABLES, type Config } from '../services/runtime/config.ts';
import { createLogger, type Logger } from '../services/runtime/logger.ts';
import { COMMANDS, type CommandContext } from './commands/index.ts';

function usage(): string {
  const lines = ['Usage: prestamos-cdc <command> [options]', '', 'Commands:'];
  for (const [name, cmd] of Object.entries(COMMANDS)) lines.push(`  ${name.padEnd(22)} ${cmd.summary}`);
  lines.push('', 'Configuration comes from the environment:', '  ' + CONFIG_VARIABLES.join(', '));
  return lines.join('\n');
}

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    console.log(usage());
    return name ? 0 : 1;
  }
  const command = COMMANDS[name];
  if (!command) {
    console.error(`Unknown command "${name}".\n\n${usage()}`);
    return 2;
  }
  let config: Config;
  try {
    config = loadConfig(process.env);
  } catch (err) {
    if (err instanceof ConfigError) {
      console.error(err.message);
      return 2;
    }
    throw err;
  }
  let parsed;
  try {
    parsed = parseArgs({ args: rest, options: command.options ?? {}, allowPositionals: command.positionals ?? false, strict: true });
  } catch (err) {
    console.error(`${name}: ${(err as Error).message}`);
    return 2;
  }
  const logger: Logger = createLogger({ level: config.logLevel, name: `prestamos-cdc ${name}` });
  const ctx: CommandContext = {
    config,
    logger,
    values: parsed.values as Record<string, string | boolean | undefined>,
    positionals: parsed.positionals,
    env: { PG_BIN_DIR: process.env.PG_BIN_DIR },
    out: (line: string) => process.stdout.write(line + '\n'),
  };
  try {
    return await command.run(ctx);
  } catch (err) {
    if (err instanceof ConfigError) {
      console.error(err.message);
      return 2;
    }
    logger.fatal({ err }, `${name} failed`);
    console.error(`${name} failed: ${(err as Error).message}`);
    return 1;
  } finally {
    logger.flush();
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
    // Long-running commands have drained and closed what they own; a library timer left behind must
    // not keep the process alive past its graceful stop.
    setTimeout(() => process.exit(code), 200).unref();
  },
  (err) => {
    console.error(err);
    process.exitCode = 1;
  },
);
