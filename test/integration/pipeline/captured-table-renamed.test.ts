// A captured table renamed by the application: the publication keeps the table under its new name,
// so its changes arrive under a name that is not captured. That is said — a metric per table (alerted
// in deploy/prometheus/alerts.yml), an error log line naming the table, the capture's /readyz and the
// progress API — and the stream goes on for the other tables. Renamed back, the alert clears.
import { describe, expect, it } from 'vitest';
import { useLegacyDatabase } from '../../support/legacy-fixture.ts';
import { startTestProcess, waitForCatchUp, configFor, waitFor } from '../../support/pipeline.ts';
import { metricValue } from '../../support/cli-process.ts';
import { call, makeTokens } from '../../support/http.ts';
import { createLogger } from '../../../services/runtime/logger.ts';
import { generateLegacyData } from '../../../services/testdata/generator.ts';

const data = generateLegacyData({ seed: 23, juntas: 2, loansPerJunta: 6, largeNotesShare: 0 });
const fixture = useLegacyDatabase(data, 'migrated');
const logLines: string[] = [];


describe('a captured table renamed', () => {
  it('is an alert naming the table, and the other tables keep streaming', { timeout: 180_000 }, async () => {
    const logger = createLogger({ level: 'info', name: 'test', destination: { write: (line: string) => void logLines.push(line) } });
    const proc = fixture.track(await startTestProcess(fixture.db, { config: configFor(fixture.db), logger }));
    const tokens = await makeTokens(fixture.db);
    expect((await call(proc.url, 'POST', '/prestamos/migration/start', { token: tokens.admin })).status).toBe(202);
    await waitForCatchUp(fixture.db);
    expect(await metricValue(proc.url, 'prestamos_cdc_captured_table_missing', { table: 'Multa' })).toBe(0);
    expect((await fetch(`${proc.url}/readyz`)).status).toBe(200);

    await fixture.pool.query(`ALTER TABLE "Multa" RENAME TO "Multa_old"`);
    await fixture.pool.query(`UPDATE "Multa_old" SET motivo = 'after the rename', "updatedAt" = now() WHERE id = $1`, [data.multas[0]!.id]);
    const loan = data.prestamos[0]!;
    await fixture.pool.query(`UPDATE "Prestamo" SET observaciones = 'still streaming', "updatedAt" = now() WHERE id = $1`, [loan.id]);

    await waitFor('the metric to say which table', async () => (await metricValue(proc!.url, 'prestamos_cdc_captured_table_missing', { table: 'Multa' })) === 1, 30_000);
    expect(await metricValue(proc.url, 'prestamos_cdc_captured_table_missing', { table: 'Prestamo' })).toBe(0);
    expect(await metricValue(proc.url, 'prestamos_cdc_uncaptured_changes_total', { relation: 'public.Multa_old' })).toBeGreaterThanOrEqual(1);
    const ready = await fetch(`${proc.url}/readyz`);
    expect(ready.status).toBe(503);
    const checks = ((await ready.json()) as { checks: Record<string, { ok: boolean; detail: string }> }).checks;
    expect(checks.capturedTables?.ok).toBe(false);
    expect(checks.capturedTables?.detail).toMatch(/public\."Multa" does not exist.*"Multa_old"/);
    const progress = await call(proc.url, 'GET', '/prestamos/migration/progress', { token: tokens.viewer });
    expect(progress.status).toBe(200);
    const body = progress.body as { capturedTableAlerts: { table: string; problem: string }[]; tables: { table: string; problem: string | null }[] };
    expect(body.capturedTableAlerts.map((a) => [a.table, a.problem])).toEqual([['Multa', 'missing']]);
    expect(body.tables.find((t) => t.table === 'Multa')?.problem).toMatch(/Multa/);
    expect(body.tables.find((t) => t.table === 'Prestamo')?.problem).toBeNull();
    expect(logLines.some((l) => l.includes('"level":"error"') && l.includes('public.\\"Multa\\" does not exist'))).toBe(true);
    // the stream goes on for the other tables
    await waitFor('the loan change to be applied', async () => {
      const r = await fixture.db.query<{ notes: string | null }>(`SELECT notes FROM "PrestamoNew" WHERE id = $1`, [loan.id]);
      return r.rows[0]?.notes === 'still streaming';
    }, 30_000);

    await fixture.pool.query(`ALTER TABLE "Multa_old" RENAME TO "Multa"`);
    await waitFor('the alert to clear', async () => (await metricValue(proc!.url, 'prestamos_cdc_captured_table_missing', { table: 'Multa' })) === 0, 30_000);
    expect((await fetch(`${proc.url}/readyz`)).status).toBe(200);

    // A table no longer in the publication (what a table dropped and created again looks like)
    await fixture.pool.query(`ALTER PUBLICATION prestamos_cdc DROP TABLE "Accion"`);
    await waitFor('the unpublished table in the metric', async () => (await metricValue(proc!.url, 'prestamos_cdc_captured_table_missing', { table: 'Accion' })) === 1, 30_000);
    const unpublished = await call(proc.url, 'GET', '/prestamos/migration/progress', { token: tokens.viewer });
    expect((unpublished.body as { capturedTableAlerts: { table: string; problem: string }[] }).capturedTableAlerts.map((a) => [a.table, a.problem])).toEqual([['Accion', 'not_published']]);
    expect(logLines.some((l) => l.includes('"level":"error"') && l.includes('public.\\"Accion\\" is not in the publication'))).toBe(true);
    await fixture.pool.query(`ALTER PUBLICATION prestamos_cdc ADD TABLE "Accion"`);
    await waitFor('the alert to clear', async () => (await metricValue(proc!.url, 'prestamos_cdc_captured_table_missing', { table: 'Accion' })) === 0, 30_000);
  });
});
