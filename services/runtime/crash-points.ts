// Fault injection for the crash tests (CRASH_AT=<point>[:N]): at a named point the process kills
// itself with SIGKILL — no cleanup, no flush — the Nth time it gets there. Unset in production, where
// every call is a counter check.
export type CrashPoint = 'capture.after-ack-before-confirm' | 'capture.mid-snapshot-chunk' | 'sync.after-commit-before-offset-commit' | 'sync.mid-snapshot-chunk';

export class CrashPoints {
  private readonly target: { point: string; nth: number } | undefined;
  private count = 0;
  constructor(target: { point: string; nth: number } | undefined) {
    this.target = target;
  }
  reached(point: CrashPoint): void {
    if (!this.target || this.target.point !== point) return;
    if (++this.count < this.target.nth) return;
    process.stderr.write(`prestamos-cdc: CRASH_AT ${point} reached (${this.count}): SIGKILL\n`);
    process.kill(process.pid, 'SIGKILL');
  }
}

export const NO_CRASH = new CrashPoints(undefined);
