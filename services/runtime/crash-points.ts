// Fault injection for the crash tests (CRASH_AT=<point>[:N]): at a named point the process kills
// itself with SIGKILL — no cleanup, no flush — the Nth time it gets there. Unset in production, where
// every call is a counter check.
export const CRASH_POINTS = ['capture.after-ack-before-confirm', 'capture.mid-snapshot-chunk', 'sync.after-commit-before-offset-commit', 'sync.mid-snapshot-chunk'] as const;
export type CrashPoint = (typeof CRASH_POINTS)[number];

/** CRASH_AT's form: a crash point, optionally `:N`. */
export const CRASH_AT_PATTERN = new RegExp(`^(${CRASH_POINTS.map((p) => p.replace(/\./g, '\\.')).join('|')})(:\\d{1,6})?$`);

export class CrashPoints {
  private readonly target: { point: CrashPoint; nth: number } | undefined;
  private count = 0;
  constructor(target: { point: CrashPoint; nth: number } | undefined) {
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
