// A TRUNCATE with several partitions: the truncate travels on partition 0, so a change committed
// before it but carried by another partition can be consumed after it — and one committed after it,
// before it. The sync is given the events in exactly such an order (as two partitions interleave),
// through an event source of this test: the change older than the truncate must change nothing (no
// payment that exists nowhere, no ledger movement left), the newer one must stay.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import { createTestDatabase, type TestDatabase } from '../../support/database.ts';
import { waitFor } from '../../support/pipeline.ts';
import type { IncomingBatch } from '../../../services/domain/ports.ts';
import { ScriptedSource, scriptedBatch, syncOver } from '../../support/scripted-source.ts';
import type { ChangeEvent } from '../../../services/domain/change-event.ts';

const TS = '2026-01-02T00:00:00.000000Z';
const pos = (lsn: string, xid: string) => ({ lsn, seq: 1, xid, commitTime: '2026-01-02T00:00:00.000Z' });
const payment = (id: string, lsn: string, xid: string): ChangeEvent => ({
  kind: 'change',
  table: 'PagoPrestamo',
  op: 'c',
  key: id,
  after: { id, prestamoId: 'loan-1', monto: '50.00', fecha: TS, anulado: false, createdAt: TS, updatedAt: TS },
  unchangedToast: [],
  position: pos(lsn, xid),
});
const batch = (partition: number, events: ChangeEvent[]): IncomingBatch =>
  scriptedBatch(`t.public.${events[0]!.kind === 'change' || events[0]!.kind === 'truncate' ? events[0]!.table : 'x'}`, partition, events);

let db: TestDatabase;
let pool: pg.Pool;
beforeAll(async () => {
  db = await createTestDatabase('migrated');
  pool = new pg.Pool({ connectionString: db.url, max: 4 });
  pool.on('error', () => undefined);
  await pool.query(`INSERT INTO "Junta" (id, nombre, "createdAt", "updatedAt") VALUES ('junta-1', 'J', now(), now())`);
});
afterAll(async () => {
  await pool?.end();
  await db?.drop();
});

describe('TRUNCATE consumed before an older change of another partition', () => {
  it('the older change changes nothing; a newer one consumed before the truncate stays; an older one applied before it is removed', async () => {
    const loan: ChangeEvent = {
      kind: 'change',
      table: 'Prestamo',
      op: 'c',
      key: 'loan-1',
      after: {
        id: 'loan-1', juntaId: 'junta-1', miembroId: 'm', monto: '1000.00', tasaInteres: '0.0200', cuotas: 10, estado: 'DESEMBOLSADO',
        fechaDesembolso: TS, fechaVencimiento: null, observaciones: null, createdAt: TS, updatedAt: TS,
      },
      unchangedToast: [],
      position: pos('0/1000', '700'),
    };
    const truncate: ChangeEvent = { kind: 'truncate', table: 'PagoPrestamo', position: pos('0/3000', '702') };
    const source = new ScriptedSource([
      batch(1, [loan]),
      // committed before the truncate and applied before it: the truncate removes it
      batch(1, [payment('pay-early', '0/2800', '705')]),
      // partition 2 is ahead: a payment committed after the truncate arrives first
      batch(2, [payment('pay-after', '0/4000', '703')]),
      batch(0, [truncate]),
      // partition 1 lags: a payment committed before the truncate arrives after it
      batch(1, [payment('pay-before', '0/2000', '701')]),
    ]);
    const sync = syncOver(pool, source, 'truncate-test');
    await sync.start();
    try {
      await waitFor('the five batches to be applied', async () => source.delivered === 5, 60_000);
    } finally {
      await sync.stop();
    }
    const payments = await pool.query<{ id: string }>(`SELECT id FROM "PagoPrestamoNew" ORDER BY id`);
    expect(payments.rows.map((r) => r.id)).toEqual(['pay-after']);
    const ledger = await pool.query<{ pago_id: string; net: string }>(
      `SELECT pago_id, sum(CASE WHEN direction = 'IN' THEN amount ELSE -amount END)::text AS net
         FROM capital_movements WHERE type = 'PAGO' GROUP BY pago_id ORDER BY pago_id`,
    );
    expect(ledger.rows.filter((r) => r.net !== '0.00')).toEqual([{ pago_id: 'pay-after', net: '50.00' }]);
    const loanRow = await pool.query<{ total_paid: string; payments_count: number }>(`SELECT total_paid::text, payments_count FROM "PrestamoNew" WHERE id = 'loan-1'`);
    expect(loanRow.rows[0]).toEqual({ total_paid: '50.00', payments_count: 1 });
  });
});
