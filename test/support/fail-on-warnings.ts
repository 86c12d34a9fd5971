// Every test file fails when Node emits a process warning while it runs (TimeoutNegativeWarning,
// MaxListenersExceededWarning, DeprecationWarning, …): a warning is a defect to fix at its cause, not
// noise. Child processes started by test/support/cli-process.ts are checked the same way when stopped.
import { afterAll } from 'vitest';

const seen: string[] = [];
process.on('warning', (w) => seen.push(`${w.name}: ${w.message}\n${w.stack ?? ''}`));

afterAll(() => {
  if (seen.length > 0) throw new Error(`Node emitted ${seen.length} warning(s) during this file:\n${seen.join('\n')}`);
});
