// Exact decimal arithmetic for money: values are scaled BigInts (unscaled integer + scale), parsed from
// and printed to PostgreSQL's numeric text. Never a float. BigInt rather than a decimal library because
// the apply path does this for every payment of every affected loan (it must cost nanoseconds), and
// because the interest split must reproduce PostgreSQL's own numeric division and rounding digit for
// digit (see interestSplit in derivations.ts).

export interface Fixed {
  /** the value times 10^scale */
  readonly unscaled: bigint;
  readonly scale: number;
}

const NUMERIC_TEXT = /^(-)?(\d+)(?:\.(\d+))?$/;

/** Parses PostgreSQL numeric text ("-12.50", "0.0250", "7") exactly. */
export function parseFixed(text: string): Fixed {
  const m = NUMERIC_TEXT.exec(text);
  if (!m) throw new RangeError(`not a decimal number: ${JSON.stringify(text)}`);
  const frac = m[3] ?? '';
  const unscaled = BigInt(m[2]! + frac);
  return { unscaled: m[1] ? -unscaled : unscaled, scale: frac.length };
}

/** Rescales exactly (more digits) or fails (fewer digits would lose information). */
export function toScale(x: Fixed, scale: number): bigint {
  if (scale >= x.scale) return x.unscaled * 10n ** BigInt(scale - x.scale);
  const div = 10n ** BigInt(x.scale - scale);
  if (x.unscaled % div !== 0n) throw new RangeError(`${formatFixed(x.unscaled, x.scale)} has more than ${scale} decimals`);
  return x.unscaled / div;
}

/** Prints a scaled integer as numeric text with exactly `scale` decimals ("-0.05"). */
export function formatFixed(unscaled: bigint, scale: number): string {
  const neg = unscaled < 0n;
  let digits = (neg ? -unscaled : unscaled).toString();
  if (scale === 0) return (neg ? '-' : '') + digits;
  digits = digits.padStart(scale + 1, '0');
  return `${neg ? '-' : ''}${digits.slice(0, -scale)}.${digits.slice(-scale)}`;
}

/** n / d rounded to the nearest integer, ties away from zero (PostgreSQL's numeric rounding). */
export function divRoundHalfAway(n: bigint, d: bigint): bigint {
  if (d === 0n) throw new RangeError('division by zero');
  const q = n / d; // truncates toward zero
  const r = n % d;
  const absR2 = (r < 0n ? -r : r) * 2n;
  const absD = d < 0n ? -d : d;
  if (absR2 >= absD) return (n < 0n) !== (d < 0n) ? q - 1n : q + 1n;
  return q;
}

/** Rounds a scaled integer to fewer decimals, ties away from zero (PostgreSQL's round(numeric, s)). */
export function roundToScale(unscaled: bigint, fromScale: number, toScaleDigits: number): bigint {
  if (toScaleDigits >= fromScale) return unscaled * 10n ** BigInt(toScaleDigits - fromScale);
  return divRoundHalfAway(unscaled, 10n ** BigInt(fromScale - toScaleDigits));
}

/** Money (scale 2) from numeric text; "12.5" and "12.50" are the same amount. */
export function cents(text: string): bigint {
  return toScale(parseFixed(text), 2);
}

export function formatCents(c: bigint): string {
  return formatFixed(c, 2);
}
