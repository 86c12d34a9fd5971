import { describe, expect, it } from 'vitest';
import { cents, divRoundHalfAway, formatCents, formatFixed, parseFixed, roundToScale, toScale } from '../../../services/domain/decimal.ts';

describe('exact decimals', () => {
  it('parses and prints numeric text without loss', () => {
    expect(parseFixed('-12.50')).toEqual({ unscaled: -1250n, scale: 2 });
    expect(parseFixed('0.0250')).toEqual({ unscaled: 250n, scale: 4 });
    expect(formatFixed(-5n, 2)).toBe('-0.05');
    expect(formatFixed(123456789012345678901234567890n, 2)).toBe('1234567890123456789012345678.90');
    expect(formatCents(cents('9999999999.99'))).toBe('9999999999.99');
    expect(cents('12.5')).toBe(1250n);
    expect(cents('7')).toBe(700n);
  });

  it('refuses what is not a plain decimal, and rescaling that would lose digits', () => {
    for (const bad of ['', '1e3', '1.', '.5', '+1', '1,5', 'NaN', 'Infinity', ' 1', '0x10']) expect(() => parseFixed(bad), bad).toThrow(RangeError);
    expect(() => toScale(parseFixed('1.005'), 2)).toThrow(/more than 2 decimals/);
    expect(toScale(parseFixed('1.500'), 2)).toBe(150n);
  });

  it('rounds half away from zero, like PostgreSQL', () => {
    expect(divRoundHalfAway(5n, 2n)).toBe(3n);
    expect(divRoundHalfAway(-5n, 2n)).toBe(-3n);
    expect(divRoundHalfAway(5n, -2n)).toBe(-3n);
    expect(divRoundHalfAway(7n, 3n)).toBe(2n);
    expect(divRoundHalfAway(-7n, 3n)).toBe(-2n);
    expect(roundToScale(12345n, 3, 2)).toBe(1235n); // 12.345 -> 12.35 (banker's rounding would give 12.34)
    expect(roundToScale(-12345n, 3, 2)).toBe(-1235n);
    expect(roundToScale(12344n, 3, 2)).toBe(1234n);
    expect(() => divRoundHalfAway(1n, 0n)).toThrow(/division by zero/);
  });
});
