// The in-process hand-off between capture and sync (inline mode: the embedded default and the demo).
// publish() resolves only once the sync has applied the events, so the capture's acknowledgement of the
// slot follows the apply. Bounded: one publish call is handed over at a time (consecutive calls are
// merged into one apply batch up to maxBatch events), and the capture holds at most its own buffer.
import type { ChangeEvent } from '../../services/domain/change-event.ts';
import type { EventPublisher, EventSource, IncomingBatch } from '../../services/domain/ports.ts';

interface Pending {
  events: ChangeEvent[];
  resolve: () => void;
  reject: (err: Error) => void;
}

export const INLINE_TOPIC = 'inline';

export class InlineChannel implements EventPublisher, EventSource {
  private readonly queue: Pending[] = [];
  private readonly maxBatch: number;
  private wake: (() => void) | undefined;
  private paused = false;
  private stopped = false;

  constructor(options: { maxBatch: number }) {
    this.maxBatch = options.maxBatch;
  }

  publish(events: ChangeEvent[]): Promise<void> {
    if (this.stopped) return Promise.reject(new Error('inline channel is stopped'));
    if (events.length === 0) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      this.queue.push({ events, resolve, reject });
      this.wake?.();
    });
  }

  async run(handler: (batch: IncomingBatch) => Promise<void>): Promise<void> {
    while (!this.stopped) {
      if (this.paused || this.queue.length === 0) {
        await new Promise<void>((r) => (this.wake = r));
        this.wake = undefined;
        continue;
      }
      const taken: Pending[] = [this.queue.shift()!];
      let size = taken[0]!.events.length;
      while (this.queue.length > 0 && size + this.queue[0]!.events.length <= this.maxBatch) {
        const next = this.queue.shift()!;
        taken.push(next);
        size += next.events.length;
      }
      // one partition: a chunk's single marker
      const events = taken.flatMap((p) => p.events.map((e) => (e.kind === 'chunk-end' ? { ...e, markers: 1, markerIndex: 0 } : e)));
      try {
        await handler({
          topic: INLINE_TOPIC,
          partition: 0,
          messages: events.map((event) => ({ origin: null, key: null, value: null, event })),
        });
        for (const p of taken) p.resolve();
      } catch (err) {
        // The capture keeps the events and publishes them again: nothing is acknowledged.
        for (const p of taken) p.reject(err as Error);
      }
    }
  }

  assignment(): Set<string> | null {
    return null;
  }

  pause(): void {
    this.paused = true;
  }

  resume(): void {
    this.paused = false;
    this.wake?.();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    for (const p of this.queue.splice(0)) p.reject(new Error('inline channel stopped'));
    this.wake?.();
  }

  async close(): Promise<void> {
    await this.stop();
  }
}
