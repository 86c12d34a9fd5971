import type { Command } from './types.ts';
import { migrateCommand } from './migrate.ts';
import { runCommand, captureCommand, syncCommand, reconcilerCommand } from './serve.ts';
import { tokenCommand } from './token.ts';
import { preflightCommand } from './preflight.ts';
import { cutoverCommand } from './cutover.ts';
import { demoCommand } from './demo.ts';
import { statusCommand } from './status.ts';
import { reportCommand } from './report.ts';

export type { Command, CommandContext } from './types.ts';

export const COMMANDS: Record<string, Command> = {
  migrate: migrateCommand,
  run: runCommand,
  capture: captureCommand,
  sync: syncCommand,
  reconciler: reconcilerCommand,
  token: tokenCommand,
  preflight: preflightCommand,
  cutover: cutoverCommand,
  demo: demoCommand,
  status: statusCommand,
  report: reportCommand,
};
