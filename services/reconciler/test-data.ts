// POST /prestamos/test/create-data and POST /prestamos/test/remove-data: deterministic legacy rows for
// rehearsing the procedure (the operators' guide's preparation phase), refused unless the server runs
// with ENABLE_TEST_DATA=true. The same seed gives the same rows; every id starts with "test-<seed>-",
// which no cuid contains, so the set can be found and removed again. Removal deletes the generated
// legacy rows (payments first: the foreign keys are RESTRICT); the stream then reverses their effect in
// the new tables and appends reversals to the ledger (which stays append-only).
import type pg from 'pg';
import { ConflictError, NotFoundError } from '../runtime/errors.ts';
import { generateLegacyData, insertLegacyData } from '../testdata/generator.ts';
import { inTransaction } from '../../connectors/postgres/transaction.ts';

export const TEST_DATA_LIMITS = { maxJuntas: 50, maxLoansPerJunta: 500, maxLoans: 10_000, maxPaymentsPerLoan: 12 } as const;

export interface CreateTestDataInput {
  seed: number;
  juntas: number;
  loansPerJunta: number;
  maxPaymentsPerLoan: number;
}

export function testDataPrefix(seed: number): string {
  return `test-${seed}-`;
}

export interface TestDataCounts {
  juntas: number;
  prestamos: number;
  pagos: number;
  acciones: number;
  multas: number;
}

export async function createTestData(pool: pg.Pool, input: CreateTestDataInput): Promise<{ prefix: string; created: TestDataCounts; sample: { juntaId: string | null; prestamoIds: string[] } }> {
  const prefix = testDataPrefix(input.seed);
  const data = generateLegacyData({ seed: input.seed, juntas: input.juntas, loansPerJunta: input.loansPerJunta, maxPaymentsPerLoan: input.maxPaymentsPerLoan, idPrefix: prefix });
  await inTransaction(pool, async (client) => {
    // one creation per seed at a time; a set that exists is not created twice
    await client.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`prestamos-cdc test data ${prefix}`]);
    const exists = await client.query(`SELECT 1 FROM "Junta" WHERE starts_with(id, $1) LIMIT 1`, [prefix]);
    if (exists.rowCount) {
      throw new ConflictError(`test data of seed ${input.seed} exists already`, [`remove it first: POST /prestamos/test/remove-data {"seed": ${input.seed}}`], 'test_data_exists');
    }
    await insertLegacyData(client, data);
  });
  return {
    prefix,
    created: { juntas: data.juntas.length, prestamos: data.prestamos.length, pagos: data.pagos.length, acciones: data.acciones.length, multas: data.multas.length },
    sample: { juntaId: data.juntas[0]?.id ?? null, prestamoIds: data.prestamos.slice(0, 5).map((p) => p.id) },
  };
}

export async function removeTestData(pool: pg.Pool, seed: number): Promise<{ prefix: string; removed: TestDataCounts; juntasKept: string[] }> {
  const prefix = testDataPrefix(seed);
  return inTransaction(pool, async (client) => {
    await client.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`prestamos-cdc test data ${prefix}`]);
    const found = await client.query(`SELECT 1 FROM "Junta" WHERE starts_with(id, $1) UNION ALL SELECT 1 FROM "Prestamo" WHERE starts_with(id, $1) LIMIT 1`, [prefix]);
    if (!found.rowCount) throw new NotFoundError(`no test data of seed ${seed} (ids starting with "${prefix}")`);
    // payments of generated loans (whoever created them) and generated payments, then the loans
    const pagos = await client.query(
      `DELETE FROM "PagoPrestamo" WHERE starts_with(id, $1) OR starts_with("prestamoId", $1)`,
      [prefix],
    );
    const prestamos = await client.query(`DELETE FROM "Prestamo" WHERE starts_with(id, $1)`, [prefix]);
    const acciones = await client.query(`DELETE FROM "Accion" WHERE starts_with(id, $1)`, [prefix]);
    const multas = await client.query(`DELETE FROM "Multa" WHERE starts_with(id, $1)`, [prefix]);
    // a generated junta that the application has since used (its loans, shares or fines) stays
    const juntas = await client.query(
      `DELETE FROM "Junta" j WHERE starts_with(j.id, $1)
          AND NOT EXISTS (SELECT 1 FROM "Prestamo" p WHERE p."juntaId" = j.id)
          AND NOT EXISTS (SELECT 1 FROM "Accion" a WHERE a."juntaId" = j.id)
          AND NOT EXISTS (SELECT 1 FROM "Multa" m WHERE m."juntaId" = j.id)`,
      [prefix],
    );
    const kept = await client.query<{ id: string }>(`SELECT id FROM "Junta" WHERE starts_with(id, $1) ORDER BY id LIMIT 100`, [prefix]);
    return {
      prefix,
      removed: { juntas: juntas.rowCount ?? 0, prestamos: prestamos.rowCount ?? 0, pagos: pagos.rowCount ?? 0, acciones: acciones.rowCount ?? 0, multas: multas.rowCount ?? 0 },
      juntasKept: kept.rows.map((r) => r.id),
    };
  });
}
