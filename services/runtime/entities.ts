// MikroORM entities: the new tables of the migration and the project's own state tables, in one place.
// The tables themselves are created by the plain-SQL migrations in sql/ (the source of truth); these
// definitions map them for the services (reconciler, audit, tokens, progress). The hot apply path
// writes with batched SQL through the same connection pool.
// Money is `decimal` in string mode: exact decimal strings, never a float.
import { defineEntity, p } from '@mikro-orm/core';

export const PrestamoNew = defineEntity({
  name: 'PrestamoNew',
  tableName: 'PrestamoNew',
  properties: {
    id: p.text().primary(),
    juntaId: p.text().name('junta_id'),
    memberId: p.text().name('member_id'),
    principal: p.decimal('string').precision(12).scale(2),
    monthlyInterestRate: p.decimal('string').precision(6).scale(4).name('monthly_interest_rate'),
    installments: p.integer(),
    status: p.enum(['pending', 'approved', 'disbursed', 'paid', 'overdue', 'cancelled'] as const),
    disbursedAt: p.datetime().nullable().name('disbursed_at'),
    dueAt: p.datetime().nullable().name('due_at'),
    notes: p.text().nullable(),
    totalPaid: p.decimal('string').precision(14).scale(2).name('total_paid'),
    principalPaid: p.decimal('string').precision(14).scale(2).name('principal_paid'),
    interestPaid: p.decimal('string').precision(14).scale(2).name('interest_paid'),
    outstandingPrincipal: p.decimal('string').precision(14).scale(2).name('outstanding_principal'),
    paymentsCount: p.integer().name('payments_count'),
    lastPaymentAt: p.datetime().nullable().name('last_payment_at'),
    createdAt: p.datetime().name('created_at'),
    updatedAt: p.datetime().name('updated_at'),
    sourceLsn: p.string().columnType('pg_lsn').name('source_lsn'),
    sourceXid: p.string().columnType('xid8').nullable().name('source_xid'),
    syncedAt: p.datetime().name('synced_at').defaultRaw('now()'),
  },
});

export const PagoPrestamoNew = defineEntity({
  name: 'PagoPrestamoNew',
  tableName: 'PagoPrestamoNew',
  properties: {
    id: p.text().primary(),
    prestamoId: p.text().name('prestamo_id'),
    amount: p.decimal('string').precision(12).scale(2),
    principalAmount: p.decimal('string').precision(12).scale(2).nullable().name('principal_amount'),
    interestAmount: p.decimal('string').precision(12).scale(2).nullable().name('interest_amount'),
    paidAt: p.datetime().name('paid_at'),
    status: p.enum(['registered', 'voided'] as const),
    createdAt: p.datetime().name('created_at'),
    updatedAt: p.datetime().name('updated_at'),
    sourceLsn: p.string().columnType('pg_lsn').name('source_lsn'),
    sourceXid: p.string().columnType('xid8').nullable().name('source_xid'),
    syncedAt: p.datetime().name('synced_at').defaultRaw('now()'),
  },
});

export const CapitalMovement = defineEntity({
  name: 'CapitalMovement',
  tableName: 'capital_movements',
  properties: {
    id: p.bigint('string').primary().autoincrement(),
    juntaId: p.text().name('junta_id'),
    type: p.enum(['PRESTAMO', 'PAGO', 'ACCION', 'MULTA'] as const),
    direction: p.enum(['IN', 'OUT'] as const),
    amount: p.decimal('string').precision(14).scale(2),
    description: p.text(),
    prestamoId: p.text().nullable().name('prestamo_id'),
    pagoId: p.text().nullable().name('pago_id'),
    accionId: p.text().nullable().name('accion_id'),
    multaId: p.text().nullable().name('multa_id'),
    sourceLsn: p.string().columnType('pg_lsn').nullable().name('source_lsn'),
    createdAt: p.datetime().name('created_at').defaultRaw('now()'),
    txid: p.string().columnType('xid8').defaultRaw('pg_current_xact_id()'),
  },
});

export const SchemaMigration = defineEntity({
  name: 'SchemaMigration',
  schema: 'prestamos_cdc',
  tableName: 'schema_migrations',
  properties: {
    name: p.text().primary(),
    checksum: p.text(),
    appliedAt: p.datetime().name('applied_at').defaultRaw('now()'),
  },
});

export const RowState = defineEntity({
  name: 'RowState',
  schema: 'prestamos_cdc',
  tableName: 'row_state',
  properties: {
    sourceTable: p.text().primary().name('source_table'),
    rowId: p.text().primary().name('row_id'),
    lsn: p.string().columnType('pg_lsn').nullable(),
    seq: p.integer().nullable(),
    xid: p.string().columnType('xid8').nullable(),
    snapshot: p.string().columnType('pg_snapshot').nullable(),
    deleted: p.boolean().default(false),
    juntaId: p.text().nullable().name('junta_id'),
    worth: p.decimal('string').precision(14).scale(2).nullable(),
    updatedAt: p.datetime().name('updated_at').defaultRaw('now()'),
  },
});

export const ConsumerOffset = defineEntity({
  name: 'ConsumerOffset',
  schema: 'prestamos_cdc',
  tableName: 'consumer_offsets',
  properties: {
    consumerGroup: p.text().primary().name('consumer_group'),
    topic: p.text().primary(),
    partition: p.integer().primary(),
    nextOffset: p.bigint('string').name('next_offset'),
    appliedLsn: p.string().columnType('pg_lsn').nullable().name('applied_lsn'),
    heartbeatAt: p.datetime().nullable().name('heartbeat_at'),
    updatedAt: p.datetime().name('updated_at'),
  },
});

export const FailedRecord = defineEntity({
  name: 'FailedRecord',
  schema: 'prestamos_cdc',
  tableName: 'failed_records',
  properties: {
    id: p.bigint('string').primary().autoincrement(),
    sourceTable: p.text().nullable().name('source_table'),
    rowId: p.text().nullable().name('row_id'),
    topic: p.text().nullable(),
    partition: p.integer().nullable(),
    kafkaOffset: p.bigint('string').nullable().name('kafka_offset'),
    messageKey: p.text().nullable().name('message_key'),
    payload: p.blob().nullable(),
    error: p.text(),
    errorCode: p.text().name('error_code'),
    status: p.enum(['open', 'resolved'] as const),
    createdAt: p.datetime().name('created_at'),
    resolvedAt: p.datetime().nullable().name('resolved_at'),
    resolution: p.text().nullable(),
  },
});

export const SnapshotRequest = defineEntity({
  name: 'SnapshotRequest',
  schema: 'prestamos_cdc',
  tableName: 'snapshot_requests',
  properties: {
    id: p.bigint('string').primary().autoincrement(),
    scope: p.enum(['tables', 'loan'] as const),
    tables: p.array(),
    targetId: p.text().nullable().name('target_id'),
    reason: p.text(),
    requestedBy: p.text().name('requested_by'),
    status: p.enum(['pending', 'running', 'emitted', 'applied', 'failed', 'cancelled'] as const),
    cursor: p.json<Record<string, unknown>>(),
    rowsEmitted: p.bigint('string').name('rows_emitted'),
    error: p.text().nullable(),
    createdAt: p.datetime().name('created_at'),
    startedAt: p.datetime().nullable().name('started_at'),
    emittedAt: p.datetime().nullable().name('emitted_at'),
    appliedAt: p.datetime().nullable().name('applied_at'),
  },
});

export const SnapshotChunk = defineEntity({
  name: 'SnapshotChunk',
  schema: 'prestamos_cdc',
  tableName: 'snapshot_chunks',
  properties: {
    id: p.bigint('string').primary().autoincrement(),
    requestId: p.bigint('string').name('request_id'),
    sourceTable: p.text().name('source_table'),
    snapshot: p.string().columnType('pg_snapshot'),
    highLsn: p.string().columnType('pg_lsn').nullable().name('high_lsn'),
    firstKey: p.text().nullable().name('first_key'),
    lastKey: p.text().nullable().name('last_key'),
    rowCount: p.integer().name('row_count'),
    markersExpected: p.integer().name('markers_expected'),
    markersApplied: p.integer().name('markers_applied'),
    readAt: p.datetime().name('read_at'),
    emittedAt: p.datetime().nullable().name('emitted_at'),
    appliedAt: p.datetime().nullable().name('applied_at'),
  },
});

export const ControlState = defineEntity({
  name: 'ControlState',
  schema: 'prestamos_cdc',
  tableName: 'control',
  properties: {
    id: p.integer().primary(),
    paused: p.boolean(),
    reason: p.text().nullable(),
    changedBy: p.text().nullable().name('changed_by'),
    changedAt: p.datetime().name('changed_at'),
  },
});

export const Pipeline = defineEntity({
  name: 'Pipeline',
  schema: 'prestamos_cdc',
  tableName: 'pipeline',
  properties: {
    name: p.text().primary(),
    slotName: p.text().name('slot_name'),
    publication: p.text(),
    topicPrefix: p.text().name('topic_prefix'),
    startedBy: p.text().nullable().name('started_by'),
    startedAt: p.datetime().nullable().name('started_at'),
    readsFrom: p.enum(['legacy', 'new'] as const).name('reads_from'),
    readsSwitchedAt: p.datetime().nullable().name('reads_switched_at'),
    updatedAt: p.datetime().name('updated_at'),
  },
});

export const Component = defineEntity({
  name: 'Component',
  schema: 'prestamos_cdc',
  tableName: 'components',
  properties: {
    component: p.text().primary(),
    instance: p.text().primary(),
    startedAt: p.datetime().name('started_at'),
    lastSeen: p.datetime().name('last_seen'),
    status: p.json<Record<string, unknown>>(),
  },
});

export const RolledBackLoan = defineEntity({
  name: 'RolledBackLoan',
  schema: 'prestamos_cdc',
  tableName: 'rolled_back_loans',
  properties: {
    prestamoId: p.text().primary().name('prestamo_id'),
    rolledBackAt: p.datetime().name('rolled_back_at'),
    rolledBackBy: p.text().name('rolled_back_by'),
    requestId: p.text().nullable().name('request_id'),
  },
});

export const ApiToken = defineEntity({
  name: 'ApiToken',
  schema: 'prestamos_cdc',
  tableName: 'api_tokens',
  properties: {
    id: p.bigint('string').primary().autoincrement(),
    name: p.text(),
    role: p.enum(['admin', 'operator', 'viewer'] as const),
    tokenHash: p.text().unique().name('token_hash'),
    createdAt: p.datetime().name('created_at'),
    revokedAt: p.datetime().nullable().name('revoked_at'),
    lastUsedAt: p.datetime().nullable().name('last_used_at'),
  },
});

export const AuditEntry = defineEntity({
  name: 'AuditEntry',
  schema: 'prestamos_cdc',
  tableName: 'audit_log',
  properties: {
    id: p.bigint('string').primary().autoincrement(),
    at: p.datetime().defaultRaw('now()'),
    actor: p.text(),
    role: p.text().nullable(),
    action: p.text(),
    params: p.json<Record<string, unknown>>(),
    outcome: p.text(),
    status: p.integer().nullable(),
    requestId: p.text().name('request_id'),
  },
});

export const ALL_ENTITIES = [
  PrestamoNew,
  PagoPrestamoNew,
  CapitalMovement,
  SchemaMigration,
  RowState,
  ConsumerOffset,
  FailedRecord,
  SnapshotRequest,
  SnapshotChunk,
  ControlState,
  Pipeline,
  Component,
  RolledBackLoan,
  ApiToken,
  AuditEntry,
];
