// A junta's id changes in the application ("Junta".id is referenced ON UPDATE CASCADE by its loans,
// shares and fines). The stream carries the cascaded updates: the ledger reverses every row's worth
// in the old id and enters it in the new one. The Junta row itself is the same row under its new id,
// so its capital columns must end equal to a recomputation for the new id — not hold the old
// movements and the new ones both.
import { describe, expect, it } from 'vitest';
import { useLegacyDatabase } from '../../support/legacy-fixture.ts';
import { startTestProcess, waitForCatchUp, expectConsistent, startMigrationFor } from '../../support/pipeline.ts';
import { generateLegacyData } from '../../../services/testdata/generator.ts';

const data = generateLegacyData({ seed: 91, juntas: 3, loansPerJunta: 12, largeNotesShare: 0 });
const fixture = useLegacyDatabase(data);


async function capitalRows() {
  const r = await fixture.db.query<{ id: string; available: string; calculated_available: string; current: string; calculated_current: string }>(
    `SELECT id, available_capital::text AS available, calculate_available_capital(id)::text AS calculated_available,
            current_capital::text AS current, calculate_current_capital(id)::text AS calculated_current
       FROM "Junta" ORDER BY id`,
  );
  return r.rows;
}

describe('junta id change', () => {
  it('moves the capital with the junta row: its columns equal a recomputation under the new id', async () => {
    const proc = fixture.track(await startTestProcess(fixture.db));
    await startMigrationFor(fixture.db);
    await waitForCatchUp(fixture.db);
    await fixture.pool.query(`SELECT set_junta_base_capital($1, 500.00)`, [data.juntas[0]!.id]);
    await fixture.pool.query(`UPDATE "Multa" SET pagada = true, "updatedAt" = now() WHERE "juntaId" = $1`, [data.juntas[0]!.id]);
    await waitForCatchUp(fixture.db);
    const before = (await capitalRows()).find((j) => j.id === data.juntas[0]!.id)!;
    // the junta really holds movements of every kind, so a double count cannot go unnoticed
    const kinds = await fixture.db.query<{ type: string }>(`SELECT DISTINCT type FROM capital_movements WHERE junta_id = $1 ORDER BY type`, [data.juntas[0]!.id]);
    expect(kinds.rows.map((r) => r.type)).toEqual(['ACCION', 'MULTA', 'PAGO', 'PRESTAMO']);
    expect(before.available).toBe(before.calculated_available);

    const oldId = data.juntas[0]!.id;
    const newId = `${oldId}-renamed`;
    await fixture.pool.query(`UPDATE "Junta" SET id = $2, "updatedAt" = now() WHERE id = $1`, [oldId, newId]);
    // and a later change under the new id, applied in a transaction of its own
    await fixture.pool.query(`UPDATE "Multa" SET pagada = false, "updatedAt" = now() WHERE id = (SELECT id FROM "Multa" WHERE "juntaId" = $1 ORDER BY id LIMIT 1)`, [newId]);
    await waitForCatchUp(fixture.db);

    const after = await capitalRows();
    for (const j of after) {
      expect({ id: j.id, available: j.available, current: j.current }).toEqual({ id: j.id, available: j.calculated_available, current: j.calculated_current });
    }
    const renamed = after.find((j) => j.id === newId)!;
    const base = await fixture.db.query<{ b: string }>(`SELECT base_capital::text AS b FROM "Junta" WHERE id = $1`, [newId]);
    expect(base.rows[0]!.b).toBe('500.00');
    // nothing is left under the old id: its movements net to zero
    const old = await fixture.db.query<{ net: string }>(
      `SELECT coalesce(sum(CASE direction WHEN 'IN' THEN amount ELSE -amount END), 0)::text AS net FROM capital_movements WHERE junta_id = $1`,
      [oldId],
    );
    expect(Number(old.rows[0]!.net)).toBe(0);
    expect(renamed.available).not.toBe('500.00');
    await expectConsistent(fixture.db);
  });
});
