// Transaction visibility, as PostgreSQL decides it: which transactions a snapshot (pg_snapshot,
// "xmin:xmax:xip,…" of 64-bit xids) sees as committed. The pipeline decides whether a snapshot row is
// newer than a streamed change by this, never by wall-clock time.

export interface PgSnapshot {
  xmin: bigint;
  xmax: bigint;
  xip: ReadonlySet<bigint>;
  text: string;
}

const SNAPSHOT_TEXT = /^(\d{1,20}):(\d{1,20}):((?:\d{1,20}(?:,\d{1,20})*)?)$/;

export function isPgSnapshot(text: string): boolean {
  return SNAPSHOT_TEXT.test(text);
}

export function parsePgSnapshot(text: string): PgSnapshot {
  const m = SNAPSHOT_TEXT.exec(text);
  if (!m) throw new RangeError(`not a pg_snapshot: ${JSON.stringify(text)}`);
  const xmin = BigInt(m[1]!);
  const xmax = BigInt(m[2]!);
  if (xmin > xmax) throw new RangeError(`pg_snapshot with xmin > xmax: ${text}`);
  const xip = new Set(m[3] ? m[3].split(',').map((x) => BigInt(x)) : []);
  return { xmin, xmax, xip, text };
}

/** pg_visible_in_snapshot for a committed transaction. */
export function isVisibleIn(xid: bigint, snapshot: PgSnapshot): boolean {
  if (xid < snapshot.xmin) return true;
  if (xid >= snapshot.xmax) return false;
  return !snapshot.xip.has(xid);
}

/**
 * Widens a 32-bit xid (what pgoutput's BEGIN carries) to the 64-bit xid8 of the same transaction,
 * given a recent 64-bit reference xid (for instance the xmax of pg_current_snapshot()). Correct while
 * the two are less than 2^31 transactions apart, which holds for any transaction still being streamed.
 */
export function widenXid(xid32: number, reference: bigint): bigint {
  if (!Number.isInteger(xid32) || xid32 < 0 || xid32 > 0xffffffff) throw new RangeError(`not a 32-bit xid: ${xid32}`);
  const refLow = reference & 0xffffffffn;
  let diff = (BigInt(xid32) - refLow) & 0xffffffffn;
  if (diff >= 0x80000000n) diff -= 0x100000000n;
  const full = reference + diff;
  if (full < 0n) throw new RangeError(`xid ${xid32} is older than the first epoch relative to ${reference}`);
  return full;
}
