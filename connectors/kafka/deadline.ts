// A bound on a kafkajs call. The client's own timeouts (requestTimeout, retries) bound almost every
// call, but a call can still wait for ever on a connection that a stalled broker left half-open (kafkajs
// issues #534 and others report sends that never settle). The caller then sees a failure it can retry
// — with a new producer — instead of a capture that waits in silence.
export class KafkaDeadlineError extends Error {
  constructor(what: string, ms: number) {
    super(`${what}: no answer from Kafka within ${ms} ms`);
    this.name = 'KafkaDeadlineError';
  }
}

/** `work`, or a KafkaDeadlineError once `ms` have passed; a late outcome of `work` is ignored. */
export function withDeadline<T>(work: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new KafkaDeadlineError(what, ms)), ms);
  });
  work.catch(() => undefined); // settled after the deadline: nobody waits for it any more
  return Promise.race([work, expired]).finally(() => clearTimeout(timer));
}
