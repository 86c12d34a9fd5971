import { describe, it, expect } from 'vitest';
import { GroupCommit, type Settled } from '../../../services/sync/group-commit.ts';

/** A run that records what it served and can be held open until released. */
function recordingRuns() {
  const runs: number[][] = [];
  let release: (() => void) | null = null;
  let hold = false;
  const commit = new GroupCommit<number, number>({
    run: async (requests) => {
      runs.push(requests);
      if (hold) await new Promise<void>((r) => (release = r));
      return requests.map((n): Settled<number> => (n < 0 ? { ok: false, error: new Error(`refused ${n}`) } : { ok: true, value: n * 10 }));
    },
    weight: (n) => Math.abs(n),
    maxWeight: 10,
  });
  return { runs, commit, holdRuns: (on: boolean) => (hold = on), release: () => release?.() };
}

describe('GroupCommit', () => {
  it('serves the requests made in one turn of the event loop in one run, each with its own result', async () => {
    const { runs, commit } = recordingRuns();
    const results = await Promise.allSettled([commit.submit(1), commit.submit(-2), commit.submit(3)]);
    expect(runs).toEqual([[1, -2, 3]]);
    expect(results[0]).toEqual({ status: 'fulfilled', value: 10 });
    expect(results[1]!.status).toBe('rejected');
    expect(((results[1] as PromiseRejectedResult).reason as Error).message).toBe('refused -2');
    expect(results[2]).toEqual({ status: 'fulfilled', value: 30 });
  });

  it('gathers the requests made while a run is in progress into the next run, in order', async () => {
    const { runs, commit, holdRuns, release } = recordingRuns();
    holdRuns(true);
    const first = commit.submit(1);
    await new Promise((r) => setImmediate(r));
    expect(runs).toEqual([[1]]);
    const later = [commit.submit(2), commit.submit(3)];
    await new Promise((r) => setTimeout(r, 5));
    expect(runs).toEqual([[1]]); // one run at a time
    holdRuns(false);
    release();
    expect(await first).toBe(10);
    expect(await Promise.all(later)).toEqual([20, 30]);
    expect(runs).toEqual([[1], [2, 3]]);
    expect(commit.runs).toBe(2);
    expect(commit.served).toBe(3);
  });

  it('keeps a run within the largest weight, but always takes at least one request', async () => {
    const { runs, commit } = recordingRuns();
    const results = await Promise.all([commit.submit(4), commit.submit(5), commit.submit(2), commit.submit(12), commit.submit(1)]);
    expect(results).toEqual([40, 50, 20, 120, 10]);
    expect(runs).toEqual([[4, 5], [2], [12], [1]]);
  });

  it('fails every request of a run whose run throws, and goes on with the next', async () => {
    let calls = 0;
    const commit = new GroupCommit<string, string>({
      run: async (requests) => {
        calls++;
        if (calls === 1) throw new Error('database gone');
        return requests.map((r) => ({ ok: true, value: r.toUpperCase() }));
      },
    });
    const failed = await Promise.allSettled([commit.submit('a'), commit.submit('b')]);
    expect(failed.map((r) => r.status)).toEqual(['rejected', 'rejected']);
    expect(((failed[0] as PromiseRejectedResult).reason as Error).message).toBe('database gone');
    expect(await commit.submit('c')).toBe('C');
  });

  it('refuses a run that returns a result count other than its requests', async () => {
    const commit = new GroupCommit<number, number>({ run: async () => [] });
    await expect(commit.submit(1)).rejects.toThrow(/0 results for 1 requests/);
  });
});
