import { describe, expect, it } from 'vitest';
import { supersedes, type RowVersion } from '../../../services/domain/version-guard.ts';
import { parsePgSnapshot, isVisibleIn, widenXid } from '../../../services/domain/visibility.ts';
import { parseLsn, formatLsn, compareLsn } from '../../../services/domain/lsn.ts';

const change = (lsn: string, seq: number, xid: bigint): RowVersion => ({ kind: 'change', lsn: parseLsn(lsn), seq, xid });
const snap = (lsn: string, s: string): RowVersion => ({ kind: 'snapshot', lsn: parseLsn(lsn), snapshot: parsePgSnapshot(s) });

describe('transaction visibility', () => {
  const s = parsePgSnapshot('100:110:102,105');
  it('sees what committed before the snapshot, not what was running or came after', () => {
    expect([99n, 100n, 101n, 103n, 109n].map((x) => isVisibleIn(x, s))).toEqual([true, true, true, true, true]);
    expect([102n, 105n, 110n, 200n].map((x) => isVisibleIn(x, s))).toEqual([false, false, false, false]);
  });
  it('refuses malformed snapshots', () => {
    for (const bad of ['', '1:2', '5:3:', 'a:b:c', '1:2:3,', '1:2:;drop']) expect(() => parsePgSnapshot(bad), bad).toThrow();
  });
  it('widens 32-bit xids across an epoch boundary', () => {
    const ref = (1n << 32n) + 10n; // epoch 1, low 10
    expect(widenXid(5, ref)).toBe((1n << 32n) + 5n);
    expect(widenXid(0xfffffff0, ref)).toBe(0xfffffff0n); // just before the wrap: previous epoch
    expect(widenXid(20, ref)).toBe((1n << 32n) + 20n); // assigned after the reference was read
    expect(widenXid(700, 1000n)).toBe(700n);
  });
});

describe('LSN', () => {
  it('compares as 64-bit positions', () => {
    expect(compareLsn('0/FFFFFFFF', '1/0')).toBe(-1);
    expect(formatLsn(parseLsn('16/B374D848'))).toBe('16/B374D848');
    expect(() => parseLsn('16-B3')).toThrow();
  });
});

describe('version guard', () => {
  it('orders streamed changes by commit position and order inside the transaction', () => {
    expect(supersedes(change('0/200', 1, 50n), change('0/100', 9, 40n))).toBe(true);
    expect(supersedes(change('0/100', 2, 40n), change('0/100', 1, 40n))).toBe(true);
    expect(supersedes(change('0/100', 1, 40n), change('0/100', 1, 40n))).toBe(false); // replay
    expect(supersedes(change('0/100', 1, 40n), change('0/200', 1, 50n))).toBe(false); // older
    expect(supersedes(change('0/100', 1, 40n), null)).toBe(true);
  });

  it('lets a snapshot row replace only changes its snapshot saw', () => {
    const s = snap('0/300', '100:110:105');
    expect(supersedes(s, change('0/200', 1, 104n))).toBe(true); // visible: the snapshot includes it
    // committed earlier in the WAL than the watermark, but not yet visible when the chunk was read:
    // the snapshot row is older than it, and must not overwrite it
    expect(supersedes(s, change('0/200', 1, 105n))).toBe(false);
    expect(supersedes(s, change('0/400', 1, 112n))).toBe(false);
  });

  it('lets a streamed change replace a snapshot row only when the snapshot did not see it', () => {
    const s = snap('0/300', '100:110:105');
    expect(supersedes(change('0/200', 1, 105n), s)).toBe(true); // invisible to the snapshot: newer
    expect(supersedes(change('0/200', 1, 104n), s)).toBe(false); // the snapshot already holds it
    expect(supersedes(change('0/400', 3, 120n), s)).toBe(true);
  });

  it('orders two snapshot reads by their watermarks', () => {
    expect(supersedes(snap('0/500', '100:110:'), snap('0/300', '90:95:'))).toBe(true);
    expect(supersedes(snap('0/300', '90:95:'), snap('0/300', '90:95:'))).toBe(false);
  });
});
