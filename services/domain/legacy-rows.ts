// Validation of legacy rows carried by change events, into typed rows the derivations work on. Every
// value that comes from outside is checked here (type, format, range of the target column); a row that
// fails is a poison message: it goes to the dead-letter topic and the failed-records table, and the
// rest of the stream keeps flowing. Hand-written checks, not a schema library: this runs for every
// event on the hot path.
import { ValidationError } from './validation-error.ts';
import { cents, parseFixed, toScale } from './decimal.ts';
import { isEstado, mapLoanStatus, type LoanStatus } from './derivations.ts';
import type { RawRow, ColumnValue } from './change-event.ts';

export class RowValidationError extends ValidationError {
  constructor(table: string, message: string) {
    super(`${table}: ${message}`, 'invalid_row');
    this.name = 'RowValidationError';
  }
}

export interface LoanRow {
  id: string;
  juntaId: string;
  memberId: string;
  principal: bigint;
  rate4: bigint;
  installments: number;
  status: LoanStatus;
  disbursedAt: string | null;
  dueAt: string | null;
  /** undefined when the notes were TOASTed and unchanged (not sent): keep the value held */
  notes: string | null | undefined;
  createdAt: string;
  updatedAt: string;
}

export interface PaymentRow {
  id: string;
  prestamoId: string;
  amount: bigint;
  paidAt: string;
  voided: boolean;
  createdAt: string;
  updatedAt: string;
}

export interface AccionRow {
  id: string;
  juntaId: string;
  cantidad: number;
  valorUnitario: bigint;
  affectsCapital: boolean;
}

export interface MultaRow {
  id: string;
  juntaId: string;
  monto: bigint;
  pagada: boolean;
  affectsCapital: boolean;
}

const MAX_ID_LENGTH = 1000;
/** ISO 8601 UTC with six fractional digits, as the capture normalises timestamps */
export const ISO_TIMESTAMP = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$/;
const MONEY_12_2 = 10n ** 12n; // |cents| < 10^12  ⇔ numeric(12,2)
const INT32_MAX = 2_147_483_647;

class RowReader {
  private readonly table: string;
  private readonly row: RawRow;
  constructor(table: string, row: RawRow) {
    this.table = table;
    this.row = row;
  }
  private fail(column: string, what: string, value: ColumnValue | undefined): never {
    const shown = typeof value === 'string' && value.length > 80 ? JSON.stringify(value.slice(0, 80)) + '…' : JSON.stringify(value);
    throw new RowValidationError(this.table, `column "${column}" ${what} (got ${shown})`);
  }
  id(column: string): string {
    const v = this.row[column];
    if (typeof v !== 'string' || v.length === 0 || v.length > MAX_ID_LENGTH) this.fail(column, `must be a non-empty text of at most ${MAX_ID_LENGTH} characters`, v);
    return v;
  }
  text(column: string): string {
    const v = this.row[column];
    if (typeof v !== 'string') this.fail(column, 'must be text', v);
    return v;
  }
  nullableText(column: string): string | null {
    const v = this.row[column];
    if (v === null) return null;
    if (typeof v !== 'string') this.fail(column, 'must be text or null', v);
    return v;
  }
  money(column: string): bigint {
    const v = this.row[column];
    if (typeof v !== 'string') this.fail(column, 'must be a decimal string', v);
    let c: bigint;
    try {
      c = cents(v);
    } catch {
      this.fail(column, 'must be a decimal with at most 2 decimals', v);
    }
    if (c >= MONEY_12_2 || c <= -MONEY_12_2) this.fail(column, 'exceeds numeric(12,2)', v);
    return c;
  }
  rate(column: string): bigint {
    const v = this.row[column];
    if (typeof v !== 'string') this.fail(column, 'must be a decimal string', v);
    let r: bigint;
    try {
      r = toScale(parseFixed(v), 4);
    } catch {
      this.fail(column, 'must be a decimal with at most 4 decimals', v);
    }
    if (r < 0n || r >= 1_000_000n) this.fail(column, 'must be a monthly rate from 0 to 99.9999 (numeric(6,4))', v);
    return r;
  }
  /** An integer column; a bigint column arrives as exact decimal text, accepted when in range. */
  int(column: string, min: number, max = INT32_MAX): number {
    const raw = this.row[column];
    const v = typeof raw === 'string' && /^-?(0|[1-9]\d{0,15})$/.test(raw) ? Number(raw) : raw;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) this.fail(column, `must be an integer from ${min} to ${max}`, raw);
    return v;
  }
  /** With a default: the column may be absent (or null, as Avro carries absent columns): NOT NULL columns only. */
  bool(column: string, defaultValue?: boolean): boolean {
    const v = this.row[column];
    if ((v === undefined || v === null) && defaultValue !== undefined) return defaultValue;
    if (typeof v !== 'boolean') this.fail(column, 'must be a boolean', v);
    return v;
  }
  timestamp(column: string): string {
    const v = this.row[column];
    if (typeof v !== 'string' || !(ISO_TIMESTAMP.test(v) || v === 'infinity' || v === '-infinity')) this.fail(column, 'must be an ISO timestamp', v);
    return v;
  }
  nullableTimestamp(column: string): string | null {
    return this.row[column] === null ? null : this.timestamp(column);
  }
}

export function parseLoanRow(row: RawRow, unchangedToast: readonly string[] = []): LoanRow {
  const r = new RowReader('Prestamo', row);
  const estado = r.text('estado');
  if (!isEstado(estado)) {
    throw new RowValidationError('Prestamo', `column "estado" must be one of PENDIENTE, APROBADO, DESEMBOLSADO, PAGADO, VENCIDO, CANCELADO (got ${JSON.stringify(estado.slice(0, 80))})`);
  }
  return {
    id: r.id('id'),
    juntaId: r.id('juntaId'),
    memberId: r.id('miembroId'),
    principal: r.money('monto'),
    rate4: r.rate('tasaInteres'),
    installments: r.int('cuotas', 0),
    status: mapLoanStatus(estado),
    disbursedAt: r.nullableTimestamp('fechaDesembolso'),
    dueAt: r.nullableTimestamp('fechaVencimiento'),
    notes: unchangedToast.includes('observaciones') ? undefined : r.nullableText('observaciones'),
    createdAt: r.timestamp('createdAt'),
    updatedAt: r.timestamp('updatedAt'),
  };
}

export function parsePaymentRow(row: RawRow): PaymentRow {
  const r = new RowReader('PagoPrestamo', row);
  return {
    id: r.id('id'),
    prestamoId: r.id('prestamoId'),
    amount: r.money('monto'),
    paidAt: r.timestamp('fecha'),
    voided: r.bool('anulado'),
    createdAt: r.timestamp('createdAt'),
    updatedAt: r.timestamp('updatedAt'),
  };
}

/** affects_capital exists only after the migration; a row captured without it counts (its default). */
export function parseAccionRow(row: RawRow): AccionRow {
  const r = new RowReader('Accion', row);
  return {
    id: r.id('id'),
    juntaId: r.id('juntaId'),
    cantidad: r.int('cantidad', -INT32_MAX),
    valorUnitario: r.money('valorUnitario'),
    affectsCapital: r.bool('affects_capital', true),
  };
}

export function parseMultaRow(row: RawRow): MultaRow {
  const r = new RowReader('Multa', row);
  return {
    id: r.id('id'),
    juntaId: r.id('juntaId'),
    monto: r.money('monto'),
    pagada: r.bool('pagada'),
    affectsCapital: r.bool('affects_capital', true),
  };
}
