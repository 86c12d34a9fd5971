// Group commit: requests made while a run is in progress, or in the same turn of the event loop, go
// into one run. The sync consumes several Kafka partitions at once; each partition's handler asks for
// its rows to be applied (or its applied offsets to be read), and one database transaction (one
// statement) serves them all instead of one per partition.
//
// Contract: a request is served by exactly one run, in the order requested; a run takes the waiting
// requests in order while their weight stays within `maxWeight` (always at least one); one run at a
// time; the next starts as soon as the previous ends if requests are waiting. `run` settles each
// request of its run on its own (a value or an error); if `run` itself throws, every request of that
// run fails with its error.

export type Settled<T> = { ok: true; value: T } | { ok: false; error: unknown };

export interface GroupCommitOptions<Req, Res> {
  run: (requests: Req[]) => Promise<Settled<Res>[]>;
  /** the weight of a request (default 1) */
  weight?: (request: Req) => number;
  /** the largest weight of one run (default: no limit) */
  maxWeight?: number;
}

interface Waiting<Req, Res> {
  request: Req;
  resolve: (value: Res) => void;
  reject: (error: unknown) => void;
}

export class GroupCommit<Req, Res> {
  private readonly options: GroupCommitOptions<Req, Res>;
  private readonly waiting: Waiting<Req, Res>[] = [];
  private running = false;
  private scheduled = false;
  /** runs made so far, and the requests they served (what the unit tests observe) */
  runs = 0;
  served = 0;

  constructor(options: GroupCommitOptions<Req, Res>) {
    this.options = options;
  }

  submit(request: Req): Promise<Res> {
    return new Promise<Res>((resolve, reject) => {
      this.waiting.push({ request, resolve, reject });
      this.schedule();
    });
  }

  /** The next run starts after the current turn of the event loop, so that requests made in it join. */
  private schedule(): void {
    if (this.running || this.scheduled || this.waiting.length === 0) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      void this.runNext();
    });
  }

  private take(): Waiting<Req, Res>[] {
    const weight = this.options.weight ?? (() => 1);
    const max = this.options.maxWeight ?? Infinity;
    const taken: Waiting<Req, Res>[] = [this.waiting.shift()!];
    let total = weight(taken[0]!.request);
    while (this.waiting.length > 0 && total + weight(this.waiting[0]!.request) <= max) {
      const next = this.waiting.shift()!;
      total += weight(next.request);
      taken.push(next);
    }
    return taken;
  }

  private async runNext(): Promise<void> {
    if (this.running || this.waiting.length === 0) return;
    this.running = true;
    const taken = this.take();
    this.runs++;
    this.served += taken.length;
    try {
      const results = await this.options.run(taken.map((w) => w.request));
      if (results.length !== taken.length) throw new Error(`group commit: ${results.length} results for ${taken.length} requests`);
      taken.forEach((w, i) => {
        const r = results[i]!;
        if (r.ok) w.resolve(r.value);
        else w.reject(r.error);
      });
    } catch (err) {
      for (const w of taken) w.reject(err);
    } finally {
      this.running = false;
      this.schedule();
    }
  }
}
