// Finding the messages the database refuses. When the transaction of a run of row changes fails on
// something other than a transient error, the run is applied again one message at a time, in stream
// order, each in its own transaction: the ones refused are isolated (their SQLSTATE kept as the
// failed record's code), the rest applied. Messages already known to fail (poison: undecodable or
// invalid) count as failures in stream order too. After each message `stopHere` is asked whether the
// error rate has crossed its threshold at it; if so the run ends there (the rest is applied after the
// resume). A transient error ends the isolation and is thrown: nothing of it is recorded, the batch
// comes again, and the version guard makes the messages applied meanwhile harmless.
import { errorMessage } from '../runtime/errors.ts';
import { isTransientDbError } from '../../connectors/postgres/retry.ts';
import type { Applier, ApplyOutcome, PreparedChange } from './applier.ts';

/** What isolation needs of a message: its prepared change, or the reason it is known to fail. */
export interface IsolatedItem {
  prepared: PreparedChange | null;
  poison: { error: string; code: string } | null;
}

export interface Refused<I> {
  item: I;
  error: string;
  code: string;
}

export interface Isolation<I> {
  /** the leading items processed: all of them, or those up to the one at which the rate crossed */
  items: I[];
  /** the messages the database refused among them (poisons are the caller's) */
  refused: Refused<I>[];
  outcome: ApplyOutcome;
}

/**
 * Applies `items` one at a time. `stopHere(failures)` is given the outcome (true: failed) of each
 * message counted so far and says whether the run ends at the last one.
 */
export async function isolateRefused<I extends IsolatedItem>(
  applier: Pick<Applier, 'transaction' | 'applyChanges'>,
  items: I[],
  stopHere: (failures: boolean[]) => boolean,
): Promise<Isolation<I>> {
  const refused: Refused<I>[] = [];
  const failures: boolean[] = [];
  const outcome: ApplyOutcome = { applied: 0, stale: 0, movements: 0, loansToResync: [] };
  for (let k = 0; k < items.length; k++) {
    const item = items[k]!;
    if (item.poison) failures.push(true);
    else if (item.prepared) {
      try {
        const one = await applier.transaction((client) => applier.applyChanges(client, [item.prepared!]));
        outcome.applied += one.applied;
        outcome.stale += one.stale;
        outcome.movements += one.movements;
        outcome.loansToResync.push(...one.loansToResync);
        failures.push(false);
      } catch (e) {
        if (isTransientDbError(e)) throw e;
        const code = (e as { code?: string }).code;
        refused.push({ item, error: errorMessage(e), code: code ? `sqlstate_${code}` : 'apply_failed' });
        failures.push(true);
      }
    } else continue;
    if (stopHere(failures)) return { items: items.slice(0, k + 1), refused, outcome };
  }
  return { items, refused, outcome };
}
