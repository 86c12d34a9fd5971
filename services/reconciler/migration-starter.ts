// Starting the migration, phase by phase (gh-ost's migrator: one place that runs the phases in order):
//   1. the migration objects, if missing (idempotent, lock_timeout, checksums);
//   2. the publication (legacy tables, the signal and heartbeat tables);
//   3. the replication slot (bounded wait for running transactions, naming them if it times out);
//   4. the pipeline record, which the capture waits for before it streams;
//   5. the first-load snapshot request for every captured table.
// Calling it again changes nothing and says so.
import type pg from 'pg';
import type { Logger } from '../runtime/logger.ts';
import { readPipeline, type PipelineRecord } from '../runtime/control-plane.ts';
import { createSnapshotRequest } from '../runtime/snapshot-requests.ts';
import { CAPTURED_TABLES } from '../domain/change-event.ts';
import { migrate, type MigrationOutcome } from '../../connectors/postgres/migrator.ts';
import { ensurePublication, ensureSlot } from '../../connectors/postgres/replication-setup.ts';
import { inTransaction } from '../../connectors/postgres/transaction.ts';

export interface StartOptions {
  databaseUrl: string;
  pool: pg.Pool;
  slotName: string;
  publicationName: string;
  topicPrefix: string;
  lockTimeoutMs: number;
  slotCreationTimeoutMs?: number;
  requestedBy: string;
  logger: Logger;
}

export interface StartResult {
  alreadyStarted: boolean;
  migrations: MigrationOutcome[];
  publication: 'created' | 'updated' | 'unchanged';
  slot: 'created' | 'exists';
  snapshotRequestId: string | null;
  pipeline: PipelineRecord;
}

export const INITIAL_LOAD_REASON = 'initial load';

export async function startMigration(options: StartOptions): Promise<StartResult> {
  const migrations = await migrate(options.databaseUrl, { logger: options.logger, lockTimeoutMs: options.lockTimeoutMs });
  const existing = await readPipeline(options.pool);
  if (existing && (existing.slotName !== options.slotName || existing.publication !== options.publicationName)) {
    throw new Error(
      `the migration was started with slot "${existing.slotName}" and publication "${existing.publication}"; ` +
        `this process is configured with "${options.slotName}" and "${options.publicationName}"`,
    );
  }
  const client = await options.pool.connect();
  let publication: StartResult['publication'];
  try {
    publication = await ensurePublication(client, options.publicationName, options.lockTimeoutMs);
  } finally {
    client.release();
  }
  const slot = await ensureSlot(options.databaseUrl, options.slotName, options.slotCreationTimeoutMs ?? 60_000);
  const snapshotRequestId = await inTransaction(options.pool, async (tx) => {
    const inserted = await tx.query(
      `INSERT INTO prestamos_cdc.pipeline (name, slot_name, publication, topic_prefix, started_by, started_at)
       VALUES ('main', $1, $2, $3, $4, now()) ON CONFLICT (name) DO NOTHING RETURNING name`,
      [options.slotName, options.publicationName, options.topicPrefix, options.requestedBy],
    );
    if (!inserted.rowCount) return null;
    return createSnapshotRequest(tx, { scope: 'tables', tables: [...CAPTURED_TABLES], reason: INITIAL_LOAD_REASON, requestedBy: options.requestedBy });
  });
  const pipeline = (await readPipeline(options.pool))!;
  options.logger.info({ slot, publication, snapshotRequestId, alreadyStarted: !snapshotRequestId }, 'migration started');
  return { alreadyStarted: snapshotRequestId === null, migrations, publication, slot, snapshotRequestId, pipeline };
}
