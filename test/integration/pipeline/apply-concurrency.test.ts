// The apply's guard state under concurrency, on a real PostgreSQL: a row without guard state is
// inserted with its version at the end of the apply (not created empty first); when another
// transaction creates it meanwhile, the apply must not write over it with what it planned from
// "nothing held" — it is retried and then loses (or wins) against the version now held.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import { createTestDatabase, type TestDatabase } from '../../support/database.ts';
import { Applier } from '../../../services/sync/applier.ts';
import { silentLogger } from '../../../services/runtime/logger.ts';
import type { PreparedChange } from '../../../services/domain/apply-plan.ts';

let db: TestDatabase;
let pool: pg.Pool;
beforeAll(async () => {
  db = await createTestDatabase('migrated');
  pool = new pg.Pool({ connectionString: db.url, max: 4 });
  await pool.query(`INSERT INTO "Junta" (id, nombre) VALUES ('ja', 'ja')`);
});
afterAll(async () => {
  await pool?.end();
  await db?.drop();
});

const accion = (id: string, lsn: number, cantidad: number): PreparedChange => ({
  table: 'Accion',
  key: id,
  version: { kind: 'change', lsn: BigInt(lsn), seq: 0, xid: BigInt(lsn) },
  row: { id, juntaId: 'ja', cantidad, valorUnitario: 1000n, affectsCapital: true },
  sourceLsn: `0/${lsn.toString(16)}`,
  sourceXid: String(lsn),
});

async function ledgerOf(id: string): Promise<string> {
  const r = await pool.query<{ s: string | null }>(
    `SELECT sum(CASE direction WHEN 'IN' THEN amount ELSE -amount END)::text AS s FROM capital_movements WHERE accion_id = $1`,
    [id],
  );
  return r.rows[0]!.s ?? '0';
}

describe('apply: a guard state created concurrently', () => {
  it('an older version that found no state loses, after a retry, to the newer one committed meanwhile', async () => {
    const applier = new Applier({ pool, logger: silentLogger() });
    const newer = await pool.connect();
    try {
      await newer.query('BEGIN');
      await applier.applyChanges(newer, [accion('a1', 0x200, 3)]); // inserts a1's state, not committed yet
      // the older version does not see a1's state (uncommitted), plans from "nothing held", and waits
      // on the insert of the newer one
      const older = applier.transaction((c) => applier.applyChanges(c, [accion('a1', 0x100, 2)]));
      await new Promise((r) => setTimeout(r, 300));
      await newer.query('COMMIT');
      const outcome = await older;
      expect(outcome).toMatchObject({ applied: 0, stale: 1, movements: 0 });
    } finally {
      newer.release();
    }
    expect(await ledgerOf('a1')).toBe('30.00');
    const state = await pool.query(`SELECT lsn::text, worth::text FROM prestamos_cdc.row_state WHERE source_table = 'Accion' AND row_id = 'a1'`);
    expect(state.rows).toEqual([{ lsn: '0/200', worth: '30.00' }]);
  });

  it('a newer version that found no state wins, after a retry, over the older one committed meanwhile', async () => {
    const applier = new Applier({ pool, logger: silentLogger() });
    const older = await pool.connect();
    try {
      await older.query('BEGIN');
      await applier.applyChanges(older, [accion('a2', 0x100, 2)]);
      const newer = applier.transaction((c) => applier.applyChanges(c, [accion('a2', 0x200, 5)]));
      await new Promise((r) => setTimeout(r, 300));
      await older.query('COMMIT');
      expect(await newer).toMatchObject({ applied: 1, stale: 0, movements: 1 });
    } finally {
      older.release();
    }
    // entered at 2 × 10.00, then adjusted by the difference to 5 × 10.00
    expect(await ledgerOf('a2')).toBe('50.00');
  });
});
