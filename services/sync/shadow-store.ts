// SQL of the sync: the apply's statements (one file each in apply-sql/, re-exported here), and the
// consumer offsets and failed records written in the same transaction. All functions run on the
// caller's client, inside the caller's transaction.
import type { Client } from './apply-sql/client.ts';
import type { GuardState } from '../domain/apply-plan.ts';

export type { Client } from './apply-sql/client.ts';
export { stateKey, ledgerKey, type RowKey, type ShadowLoan, type ShadowPayment } from '../domain/apply-plan.ts';
/** The version-guard state of one row (prestamos_cdc.row_state). */
export type StateRow = GuardState;
export { lockRowStates, lockRowStatesForApply, type ApplyLocks } from './apply-sql/lock-guard-states.ts';
export { writeRowStates, ConcurrentStateCreation } from './apply-sql/write-guard-states.ts';
export { readRolledBackLoans } from './apply-sql/read-rolled-back-loans.ts';
export { readPaymentLoanIds } from './apply-sql/read-payment-loans.ts';
export { readShadowLoans } from './apply-sql/read-shadow-loans.ts';
export { readShadowPayments } from './apply-sql/read-shadow-payments.ts';
export { upsertLoans } from './apply-sql/upsert-loans.ts';
export { upsertPayments } from './apply-sql/upsert-payments.ts';
export { deleteLoans, deletePayments } from './apply-sql/delete-shadow-rows.ts';
export { readLedgerSums } from './apply-sql/read-ledger-sums.ts';
export { appendMovements } from './apply-sql/append-movements.ts';
export { lockTruncationFloors, raiseTruncationFloor } from './apply-sql/truncation-floors.ts';

export interface FailedRecordInput {
  sourceTable: string | null;
  rowId: string | null;
  topic: string | null;
  partition: number | null;
  offset: string | null;
  key: string | null;
  payload: Buffer | null;
  error: string;
  errorCode: string;
}

export async function insertFailedRecords(client: Client, records: FailedRecordInput[]): Promise<void> {
  if (records.length === 0) return;
  const col = <T>(f: (r: FailedRecordInput) => T) => records.map(f);
  await client.query(
    `INSERT INTO prestamos_cdc.failed_records (source_table, row_id, topic, partition, kafka_offset, message_key, payload, error, error_code)
     SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::int[], $5::bigint[], $6::text[], $7::bytea[], $8::text[], $9::text[])
     ON CONFLICT (topic, partition, kafka_offset) WHERE kafka_offset IS NOT NULL DO NOTHING`,
    [
      col((r) => r.sourceTable),
      col((r) => r.rowId),
      col((r) => r.topic),
      col((r) => r.partition),
      col((r) => r.offset),
      col((r) => r.key),
      col((r) => r.payload),
      col((r) => r.error.slice(0, 4000)),
      col((r) => r.errorCode),
    ],
  );
}

