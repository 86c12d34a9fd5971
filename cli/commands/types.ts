import type { ParseArgsConfig } from 'node:util';
import type { Config } from '../../services/runtime/config.ts';
import type { Logger } from '../../services/runtime/logger.ts';

export interface CommandContext {
  config: Config;
  logger: Logger;
  values: Record<string, string | boolean | undefined>;
  positionals: string[];
  /** The few variables read outside the validated Config (tool locations). */
  env: { PG_BIN_DIR: string | undefined };
  /** Prints a line on standard output (results, not logs). */
  out(line: string): void;
}

export interface Command {
  summary: string;
  options?: ParseArgsConfig['options'];
  positionals?: boolean;
  run(ctx: CommandContext): Promise<number>;
}
