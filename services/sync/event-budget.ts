// How many fetched events the sync holds decoded at once. Through Kafka it handles several partitions
// at the same time (so that their rows share transactions: group-commit.ts); each handler takes a share
// of this budget, the number of messages of its batch, before it decodes them and gives it back when the
// batch is done. Small batches (a sync keeping up) then run together, while a backlog's large batches go
// about one at a time, as before, and the decoded events in memory stay bounded by the budget (a batch
// larger than the whole budget runs alone).
//
// Contract: a share is granted in the order asked (FIFO, so a large batch is not starved by small ones),
// when the shares held leave room for it, or when none is held.
export class EventBudget {
  private readonly capacity: number;
  private held = 0;
  private readonly waiting: { weight: number; grant: () => void }[] = [];

  constructor(capacity: number) {
    if (!(capacity >= 1)) throw new RangeError(`event budget: capacity ${capacity} must be at least 1`);
    this.capacity = capacity;
  }

  /** Waits for a share of `weight` events; resolves with the function that gives it back (once). */
  async acquire(weight: number): Promise<() => void> {
    const w = Math.max(1, weight);
    if (this.waiting.length === 0 && this.fits(w)) this.held += w;
    else await new Promise<void>((grant) => this.waiting.push({ weight: w, grant }));
    let given = false;
    return () => {
      if (given) return;
      given = true;
      this.held -= w;
      this.grantWaiting();
    };
  }

  /** events held by the shares granted */
  get inUse(): number {
    return this.held;
  }

  private fits(weight: number): boolean {
    return this.held === 0 || this.held + weight <= this.capacity;
  }

  private grantWaiting(): void {
    while (this.waiting.length > 0 && this.fits(this.waiting[0]!.weight)) {
      const next = this.waiting.shift()!;
      this.held += next.weight;
      next.grant();
    }
  }
}
