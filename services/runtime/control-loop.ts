// The process's control loop: once a tick (a second) it reads the shared control row (pause/resume,
// control-plane.ts) and, when SOURCE_LOAD_QUERY is configured, the source's load, and hands that one
// snapshot to every component of the process that registered (the sync, the snapshotter). Each decides
// from it on its own (services/domain/throttle.ts). One read per tick whatever the number of
// components; a tick does not start while the previous one runs. A read that fails is handed on as
// such (before the migration objects exist, the control row's table is missing: code 42P01). The loop
// ticks while at least one component is registered.
import type { ControlState } from './control-plane.ts';
import { readControl } from './control-plane.ts';
import type { Logger } from './logger.ts';
import type { Queryable } from './queryable.ts';
import { errorMessage } from './errors.ts';

export const CONTROL_TICK_MS = 1000;

interface Read {
  /** performance.now() when the read began: a decision recorded after it is newer than what it saw */
  readonly readStartedAt: number;
}

export type ControlSnapshot =
  | (Read & {
      readonly ok: true;
      readonly control: ControlState;
      /** SOURCE_LOAD_QUERY's value; null: the query failed; undefined: no query is configured */
      readonly sourceLoad: number | null | undefined;
    })
  | (Read & { readonly ok: false; readonly error: unknown });

/** A component's handling of a snapshot (its own failures are its own: it logs them). */
export type ControlListener = (snapshot: ControlSnapshot) => void | Promise<void>;

export interface ControlLoopOptions {
  pool: Queryable;
  /** the process's source-load sampler (undefined: no SOURCE_LOAD_QUERY) */
  sourceLoad?: (() => Promise<number | null>) | undefined;
  logger: Logger;
  intervalMs?: number;
}

export class ControlLoop {
  private readonly options: ControlLoopOptions;
  private readonly intervalMs: number;
  private readonly listeners = new Set<ControlListener>();
  private timer: NodeJS.Timeout | undefined;
  private ticking = false;
  private reading: Promise<ControlSnapshot> | null = null;
  private last: ControlSnapshot | undefined;

  constructor(options: ControlLoopOptions) {
    this.options = options;
    this.intervalMs = options.intervalMs ?? CONTROL_TICK_MS;
  }

  /** The last snapshot read (undefined before the first). */
  get latest(): ControlSnapshot | undefined {
    return this.last;
  }

  /**
   * Registers a component. Resolves once it has handled a first snapshot — the last one when it was
   * read within the tick, else one read now — with the function that unregisters it.
   */
  async register(listener: ControlListener): Promise<() => void> {
    const fresh = this.last && performance.now() - this.last.readStartedAt < this.intervalMs ? this.last : undefined;
    await this.deliver(listener, fresh ?? (await this.read()));
    this.listeners.add(listener);
    this.timer ??= setInterval(() => void this.tick(), this.intervalMs);
    return () => {
      this.listeners.delete(listener);
      if (this.listeners.size === 0) this.stop();
    };
  }

  /** Stops ticking (the components registered get no more snapshots). */
  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  private async tick(): Promise<void> {
    if (this.ticking) return;
    this.ticking = true;
    try {
      const snapshot = await this.read();
      await Promise.all([...this.listeners].map((l) => this.deliver(l, snapshot)));
    } finally {
      this.ticking = false;
    }
  }

  /** One read of the control row and the source load (concurrent callers share it). */
  private read(): Promise<ControlSnapshot> {
    this.reading ??= (async (): Promise<ControlSnapshot> => {
      const readStartedAt = performance.now();
      try {
        const control = await readControl(this.options.pool);
        const sourceLoad = this.options.sourceLoad ? await this.options.sourceLoad() : undefined;
        return { ok: true, readStartedAt, control, sourceLoad };
      } catch (error) {
        return { ok: false, readStartedAt, error };
      }
    })().then((snapshot) => {
      this.last = snapshot;
      this.reading = null;
      return snapshot;
    });
    return this.reading;
  }

  private async deliver(listener: ControlListener, snapshot: ControlSnapshot): Promise<void> {
    try {
      await listener(snapshot);
    } catch (err) {
      this.options.logger.warn({ err: errorMessage(err) }, 'a component failed on the control snapshot');
    }
  }
}
