// The steps of an apply (sending dead letters, the rows, a truncate, a snapshot marker, the batch as a
// whole) and what happens when one keeps failing. A step that fails on something other than a
// transient database error (those are retried by the applier and counted apart) fails its batch with
// an ApplyStepError naming the step. The batch is retried after a short backoff (250 ms doubling, at
// most 5 s); StuckBatches counts the failed attempts per partition at the same position, and after
// `maxAttempts` of them says the apply must pause — with the step, the position and the cause in the
// reason. An attempt at another position (the batch moved on, or a new one) starts the count again;
// a batch applied whole, or a resume, clears it. Pure apart from stepTransaction.
import type pg from 'pg';
import { errorMessage } from '../runtime/errors.ts';
import type { IncomingBatch } from '../domain/ports.ts';
import { isTransientDbError } from '../../connectors/postgres/retry.ts';

export const APPLY_STEPS = ['dead_letter', 'rows', 'truncate', 'snapshot_marker', 'batch'] as const;
export type ApplyStep = (typeof APPLY_STEPS)[number];

/** A step of the apply that failed (not transiently): the batch is retried, then the apply pauses. */
export class ApplyStepError extends Error {
  readonly step: ApplyStep;
  override readonly cause: unknown;
  constructor(step: ApplyStep, cause: unknown) {
    super(`${step}: ${errorMessage(cause)}`);
    this.step = step;
    this.cause = cause;
  }
}

/** A transaction of one apply step; a failure other than a transient one is that step's. */
export async function stepTransaction<T>(
  transaction: (work: (client: pg.PoolClient) => Promise<T>) => Promise<T>,
  step: ApplyStep,
  work: (client: pg.PoolClient) => Promise<T>,
): Promise<T> {
  try {
    return await transaction(work);
  } catch (err) {
    if (isTransientDbError(err)) throw err;
    throw new ApplyStepError(step, err);
  }
}

/**
 * Where a failed batch stands: the offset after the last one it resolved, else its first message's
 * offset (Kafka) or source position (inline).
 */
export function failedPosition(batch: Pick<IncomingBatch, 'messages'>, resolvedThrough: string | null): string {
  if (resolvedThrough !== null) return (BigInt(resolvedThrough) + 1n).toString();
  const first = batch.messages[0];
  return first?.origin?.offset ?? (first?.event ? `${first.event.position.lsn}` : 'unknown');
}

/** The wait before a failed batch is tried again. */
export function retryDelayAfter(attempt: number): number {
  return Math.min(5000, 250 * 2 ** (attempt - 1));
}

/** What to do after a failed attempt. */
export interface FailedAttempt {
  step: ApplyStep;
  attempt: number;
  /** "topic[partition] at offset N" (or "at position LSN" inline) */
  where: string;
  /** retry after `retryInMs`, or pause the apply with `reason` */
  decision: { retryInMs: number } | { pause: string };
  cause: unknown;
}

export class StuckBatches {
  private readonly maxAttempts: number;
  /** partition ("topic\u0000partition") → failed attempts at the same position */
  private readonly attempts = new Map<string, { position: string; count: number }>();

  constructor(maxAttempts: number) {
    this.maxAttempts = maxAttempts;
  }

  /** A batch of the partition failed with `err` at `position` (failedPosition). */
  failed(batch: Pick<IncomingBatch, 'topic' | 'partition' | 'messages'>, position: string, err: unknown): FailedAttempt {
    const step = err instanceof ApplyStepError ? err.step : 'batch';
    const cause = err instanceof ApplyStepError ? err.cause : err;
    const tp = `${batch.topic}\u0000${batch.partition}`;
    const previous = this.attempts.get(tp);
    const attempt = previous && previous.position === position ? previous.count + 1 : 1;
    const where = `${batch.topic}[${batch.partition}] at ${batch.messages[0]?.origin ? 'offset ' : 'position '}${position}`;
    if (attempt >= this.maxAttempts) {
      this.attempts.delete(tp);
      return { step, attempt, where, cause, decision: { pause: `apply stuck: ${step} failed ${attempt} times on ${where}: ${errorMessage(cause)}`.slice(0, 2000) } };
    }
    this.attempts.set(tp, { position, count: attempt });
    return { step, attempt, where, cause, decision: { retryInMs: retryDelayAfter(attempt) } };
  }

  /** A batch of the partition was applied whole. */
  succeeded(batch: Pick<IncomingBatch, 'topic' | 'partition'>): void {
    this.attempts.delete(`${batch.topic}\u0000${batch.partition}`);
  }

  /** The apply resumed: every count starts again. */
  clear(): void {
    this.attempts.clear();
  }
}
