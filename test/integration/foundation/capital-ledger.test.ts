// The ledger's trigger and functions under concurrency, and the append-only rule enforced by the
// database itself.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import { createTestDatabase, type TestDatabase } from '../../support/database.ts';
import { Prng, cents } from '../../../services/testdata/generator.ts';

let db: TestDatabase;
let pool: pg.Pool;
const JUNTAS = ['ja', 'jb', 'jc', 'jd', 'hot'];

beforeAll(async () => {
  db = await createTestDatabase('migrated');
  pool = new pg.Pool({ connectionString: db.url, max: 16 });
  for (const j of JUNTAS) await pool.query(`INSERT INTO "Junta" (id, nombre) VALUES ($1, $1)`, [j]);
  await pool.query(`SELECT set_junta_base_capital('jb', 1000.50)`);
});
afterAll(async () => {
  await pool?.end();
  await db?.drop();
});

const TYPES = [
  { type: 'PRESTAMO', col: 'prestamo_id' },
  { type: 'PAGO', col: 'pago_id' },
  { type: 'ACCION', col: 'accion_id' },
  { type: 'MULTA', col: 'multa_id' },
] as const;

async function insertMovements(client: pg.PoolClient | pg.Pool, prng: Prng, count: number) {
  const rows = Array.from({ length: count }, () => {
    // Half the movements go to one hot junta: many concurrent updates of the same row.
    const junta = prng.chance(0.5) ? 'hot' : prng.pick(JUNTAS);
    const t = prng.pick(TYPES);
    return { junta, type: t.type, col: t.col, direction: prng.chance(0.5) ? 'IN' : 'OUT', amount: cents(prng.int(1, 1_000_000)) };
  });
  await client.query(
    `INSERT INTO capital_movements (junta_id, type, direction, amount, description, prestamo_id, pago_id, accion_id, multa_id)
     SELECT junta, type, dir, amount, 'test',
            CASE WHEN type = 'PRESTAMO' THEN 'x' END, CASE WHEN type = 'PAGO' THEN 'x' END,
            CASE WHEN type = 'ACCION' THEN 'x' END, CASE WHEN type = 'MULTA' THEN 'x' END
       FROM unnest($1::text[], $2::text[], $3::text[], $4::numeric[]) AS t(junta, type, dir, amount)`,
    [rows.map((r) => r.junta), rows.map((r) => r.type), rows.map((r) => r.direction), rows.map((r) => r.amount)],
  );
}

describe('capital ledger', () => {
  it('keeps every junta\'s incremental capital equal to a recomputation after thousands of concurrent inserts', async () => {
    const workers = 12;
    await Promise.all(
      Array.from({ length: workers }, async (_, w) => {
        const prng = new Prng(1000 + w);
        const client = await pool.connect();
        try {
          for (let i = 0; i < 60; i++) {
            // Mix single-row statements, multi-row statements and multi-statement transactions.
            if (i % 3 === 0) {
              await client.query('BEGIN');
              await insertMovements(client, prng, 5);
              await insertMovements(client, prng, 7);
              await client.query('COMMIT');
            } else {
              await insertMovements(client, prng, i % 3 === 1 ? 1 : 25);
            }
          }
        } catch (err) {
          await client.query('ROLLBACK').catch(() => undefined);
          throw err;
        } finally {
          client.release();
        }
      }),
    );
    const count = await pool.query<{ n: string }>('SELECT count(*)::text AS n FROM capital_movements');
    expect(Number(count.rows[0]!.n)).toBe(workers * (20 * 12 + 20 * 1 + 20 * 25));
    const r = await pool.query<{ id: string; available_ok: boolean; current_ok: boolean; base_capital: string; available_capital: string }>(
      `SELECT id, available_capital = calculate_available_capital(id) AS available_ok,
              current_capital = calculate_current_capital(id) AS current_ok, base_capital::text, available_capital::text
         FROM "Junta" ORDER BY id`,
    );
    expect(r.rows.map((x) => [x.id, x.available_ok, x.current_ok])).toEqual(JUNTAS.slice().sort().map((j) => [j, true, true]));
    // The hot junta really moved (the check above cannot pass on an untouched ledger).
    expect(r.rows.find((x) => x.id === 'hot')!.available_capital).not.toBe('0.00');
    // And independently of the functions: base + ΣIN − ΣOUT straight from the ledger.
    const direct = await pool.query<{ id: string; ok: boolean }>(
      `SELECT j.id, j.available_capital = j.base_capital + coalesce(sum(CASE m.direction WHEN 'IN' THEN m.amount ELSE -m.amount END), 0) AS ok
         FROM "Junta" j LEFT JOIN capital_movements m ON m.junta_id = j.id GROUP BY j.id`,
    );
    expect(direct.rows.every((x) => x.ok)).toBe(true);
    expect(r.rows.find((x) => x.id === 'jb')!.base_capital).toBe('1000.50');
  });

  it('refuses UPDATE, DELETE and TRUNCATE of the ledger', async () => {
    await expect(pool.query(`UPDATE capital_movements SET amount = amount + 1`)).rejects.toThrow(/append-only/);
    await expect(pool.query(`DELETE FROM capital_movements`)).rejects.toThrow(/append-only/);
    await expect(pool.query(`TRUNCATE capital_movements`)).rejects.toThrow(/append-only/);
  });

  it('refuses amounts that are zero or negative, and movements without their source row', async () => {
    for (const amount of ['0', '0.00', '-0.01', '-100']) {
      await expect(
        pool.query(`INSERT INTO capital_movements (junta_id, type, direction, amount, description, accion_id) VALUES ('ja', 'ACCION', 'IN', $1, 't', 'a')`, [amount]),
      ).rejects.toThrow(/capital_movements_amount_check/);
    }
    await expect(
      pool.query(`INSERT INTO capital_movements (junta_id, type, direction, amount, description) VALUES ('ja', 'ACCION', 'IN', 1, 't')`),
    ).rejects.toThrow(/capital_movements_source_row/);
    await expect(
      pool.query(`INSERT INTO capital_movements (junta_id, type, direction, amount, description, accion_id) VALUES ('ja', 'ACCION', 'SIDEWAYS', 1, 't', 'a')`),
    ).rejects.toThrow(/capital_movements_direction_check/);
  });

  it('moves available and current capital with the opening balance an operator sets', async () => {
    const client = await pool.connect();
    await client.query(`CREATE TEMP TABLE before_base AS SELECT available_capital, current_capital FROM "Junta" WHERE id = 'ja'`);
    await client.query(`SELECT set_junta_base_capital('ja', 250.25)`);
    const after = await client.query<{ da: string; dc: string; ok: boolean }>(
      `SELECT (j.available_capital - b.available_capital)::text AS da, (j.current_capital - b.current_capital)::text AS dc,
              j.available_capital = calculate_available_capital('ja') AS ok
         FROM "Junta" j, before_base b WHERE j.id = 'ja'`,
    );
    client.release();
    expect(after.rows[0]).toEqual({ da: '250.25', dc: '250.25', ok: true });
    await expect(pool.query(`SELECT set_junta_base_capital('nope', 1)`)).rejects.toThrow(/does not exist/);
  });
});
