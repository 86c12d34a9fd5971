import type { Command } from './types.ts';
import { migrateCommand } from './migrate.ts';

export type { Command, CommandContext } from './types.ts';

export const COMMANDS: Record<string, Command> = {
  migrate: migrateCommand,
};
