// Writes the version-guard state of the rows applied: their new version and the worth held.
import type { Client } from './client.ts';
import { formatCents } from '../../domain/decimal.ts';
import { formatLsn } from '../../domain/lsn.ts';
import { stateKey, type GuardState } from '../../domain/apply-plan.ts';

/** A guard state created by another transaction after this one found none: the transaction is retried. */
export class ConcurrentStateCreation extends Error {
  readonly code = '40001';
  constructor(count: number) {
    super(`${count} version-guard row(s) created by a concurrent apply; retrying the transaction`);
    this.name = 'ConcurrentStateCreation';
  }
}

function stateColumns(all: readonly GuardState[]) {
  const col = <T>(f: (s: GuardState) => T) => all.map(f);
  return [
    col((s) => s.table),
    col((s) => s.rowId),
    col((s) => (s.version ? formatLsn(s.version.lsn) : null)),
    col((s) => (s.version?.kind === 'change' ? s.version.seq : 0)),
    col((s) => (s.version?.kind === 'change' ? s.version.xid.toString() : null)),
    col((s) => (s.version?.kind === 'snapshot' ? s.version.snapshot.text : null)),
    col((s) => s.deleted),
    col((s) => s.juntaId),
    col((s) => (s.worth === null ? null : formatCents(s.worth))),
  ];
}

/**
 * Writes the guard state of the rows applied (their new version and the worth the ledger now holds for
 * them) and, for `worthOnly`, only the worth held. Rows in `unstored` (see lockRowStatesForApply) are
 * inserted.
 */
export async function writeRowStates(client: Client, states: GuardState[], worthOnly: GuardState[] = [], unstored: ReadonlySet<string> = new Set()): Promise<void> {
  const inserts = unstored.size ? states.filter((s) => unstored.has(stateKey(s.table, s.rowId))) : [];
  const updates = [...(inserts.length ? states.filter((s) => !unstored.has(stateKey(s.table, s.rowId))) : states), ...worthOnly];
  if (inserts.length > 0) {
    const r = await client.query(
      `INSERT INTO prestamos_cdc.row_state (source_table, row_id, lsn, seq, xid, snapshot, deleted, junta_id, worth)
       SELECT * FROM unnest($1::text[], $2::text[], $3::pg_lsn[], $4::int[], $5::xid8[], $6::pg_snapshot[], $7::boolean[], $8::text[], $9::numeric[])
       ON CONFLICT (source_table, row_id) DO NOTHING`,
      stateColumns(inserts),
    );
    if (r.rowCount !== inserts.length) throw new ConcurrentStateCreation(inserts.length - (r.rowCount ?? 0));
  }
  if (updates.length === 0) return;
  const versionedCount = updates.length - worthOnly.length;
  await client.query(
    `UPDATE prestamos_cdc.row_state s
        SET lsn = CASE WHEN v.keep THEN s.lsn ELSE v.lsn END, seq = CASE WHEN v.keep THEN s.seq ELSE v.seq END,
            xid = CASE WHEN v.keep THEN s.xid ELSE v.xid END, snapshot = CASE WHEN v.keep THEN s.snapshot ELSE v.snapshot END,
            deleted = CASE WHEN v.keep THEN s.deleted ELSE v.deleted END,
            junta_id = v.junta_id, worth = v.worth, updated_at = now()
       FROM unnest($1::text[], $2::text[], $3::pg_lsn[], $4::int[], $5::xid8[], $6::pg_snapshot[], $7::boolean[], $8::text[], $9::numeric[], $10::boolean[])
            AS v(source_table, row_id, lsn, seq, xid, snapshot, deleted, junta_id, worth, keep)
      WHERE s.source_table = v.source_table AND s.row_id = v.row_id`,
    [...stateColumns(updates), updates.map((_, i) => i >= versionedCount)],
  );
}
