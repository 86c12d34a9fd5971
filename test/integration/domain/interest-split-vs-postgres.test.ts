// The TypeScript interest split reproduces PostgreSQL's round(a * k / (1 + k), 2) to the cent, on
// random and adversarial inputs (ties, tiny and huge amounts, zero rates, long terms).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../../support/database.ts';
import { interestSplit } from '../../../services/domain/derivations.ts';
import { cents, formatCents, parseFixed, toScale } from '../../../services/domain/decimal.ts';
import { Prng, cents as centsText, rate4 } from '../../../services/testdata/generator.ts';

let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase('empty');
});
afterAll(async () => {
  await db?.drop();
});

describe('interest split against PostgreSQL', () => {
  it('agrees on 60,000 cases', async () => {
    const prng = new Prng(42);
    const amounts: string[] = [];
    const rates: string[] = [];
    const terms: number[] = [];
    const push = (a: string, r: string, t: number) => (amounts.push(a), rates.push(r), terms.push(t));
    for (let i = 0; i < 50_000; i++) {
      const scale = prng.pick([10, 1_000, 100_000, 10_000_000, 999_999_999_999]);
      push(centsText(prng.int(-scale, scale)), rate4(prng.int(0, prng.pick([10, 500, 999_999]))), prng.int(0, prng.pick([1, 12, 360, 10_000])));
    }
    // Ties and near-ties: amounts whose interest is exactly x.xx5 for common terms.
    for (let i = 0; i < 10_000; i++) push(centsText(prng.int(1, 2_000_000)), rate4(prng.pick([100, 125, 250, 500, 1, 3333])), prng.pick([1, 2, 3, 4, 6, 8, 12, 24]));
    const res = await db.query<{ interest: string }>(
      `SELECT round(a * (r * t) / (1 + (r * t)), 2)::text AS interest
         FROM unnest($1::numeric(12,2)[], $2::numeric(6,4)[], $3::int[]) WITH ORDINALITY AS x(a, r, t, n) ORDER BY n`,
      [amounts, rates, terms],
    );
    const mismatches: string[] = [];
    res.rows.forEach((row, i) => {
      const ts = interestSplit(cents(amounts[i]!), toScale(parseFixed(rates[i]!), 4), terms[i]!);
      if (formatCents(ts.interest) !== row.interest) mismatches.push(`${amounts[i]} ${rates[i]} ${terms[i]}: pg ${row.interest} ts ${formatCents(ts.interest)}`);
      expect(ts.interest + ts.principal).toBe(cents(amounts[i]!));
    });
    expect(mismatches.slice(0, 10)).toEqual([]);
    expect(res.rows.length).toBe(60_000);
  });
});
