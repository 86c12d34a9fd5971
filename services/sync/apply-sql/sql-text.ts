// Text forms shared by the apply statements: timestamps read as ISO-8601 UTC with six fractional digits
// (as the capture normalises them), money and rates written as exact decimal strings.
import { formatCents } from '../../domain/decimal.ts';

export const ISO = (col: string) => `to_char(${col} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')`;

export const money = (v: bigint | null) => (v === null ? null : formatCents(v));

/** numeric(6,4) from its value × 10^4 */
export const rate = (v: bigint) => {
  const neg = v < 0n;
  const s = (neg ? -v : v).toString().padStart(5, '0');
  return `${neg ? '-' : ''}${s.slice(0, -4)}.${s.slice(-4)}`;
};
