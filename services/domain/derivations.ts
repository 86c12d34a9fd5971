// The derivation rules of SPEC §3: status map, the flat-rate interest split, loan aggregates.
// Money is integer cents (bigint). The interest split reproduces PostgreSQL's
//   round(a * k / (1 + k), 2),   k = monthly_interest_rate * installments
// exactly, including the scale PostgreSQL picks for the intermediate division (numeric.c,
// select_div_scale) and its round-half-away-from-zero, so that the TypeScript apply and the SQL
// verification agree to the cent even where double rounding could differ.
import { divRoundHalfAway, roundToScale } from './decimal.ts';

export const LOAN_STATUS_BY_ESTADO = {
  PENDIENTE: 'pending',
  APROBADO: 'approved',
  DESEMBOLSADO: 'disbursed',
  PAGADO: 'paid',
  VENCIDO: 'overdue',
  CANCELADO: 'cancelled',
} as const;

export type Estado = keyof typeof LOAN_STATUS_BY_ESTADO;
export type LoanStatus = (typeof LOAN_STATUS_BY_ESTADO)[Estado];
export type PaymentStatus = 'registered' | 'voided';

export function isEstado(value: string): value is Estado {
  return Object.prototype.hasOwnProperty.call(LOAN_STATUS_BY_ESTADO, value);
}

export function mapLoanStatus(estado: Estado): LoanStatus {
  return LOAN_STATUS_BY_ESTADO[estado];
}

/** A loan is disbursed when its status is disbursed, paid or overdue. */
export function isDisbursed(status: LoanStatus): boolean {
  return status === 'disbursed' || status === 'paid' || status === 'overdue';
}

// ---- PostgreSQL numeric division scale -------------------------------------------------------------
const NUMERIC_MIN_SIG_DIGITS = 16;
const DEC_DIGITS = 4;
const NUMERIC_MAX_DISPLAY_SCALE = 1000;

/** Weight and first base-10000 digit of a value, as PostgreSQL's NumericVar holds it. */
export function numericWeightAndFirstDigit(unscaled: bigint, dscale: number): { weight: number; firstDigit: number } {
  if (unscaled === 0n) return { weight: 0, firstDigit: 0 };
  const s = (unscaled < 0n ? -unscaled : unscaled).toString();
  const intLen = s.length - dscale;
  if (intLen > 0) {
    const weight = Math.floor((intLen - 1) / DEC_DIGITS);
    return { weight, firstDigit: Number(s.slice(0, intLen - DEC_DIGITS * weight)) };
  }
  const leadingZeros = -intLen;
  const group = Math.floor(leadingZeros / DEC_DIGITS) + 1;
  const frac = '0'.repeat(leadingZeros) + s;
  const digits = frac.slice((group - 1) * DEC_DIGITS, group * DEC_DIGITS).padEnd(DEC_DIGITS, '0');
  return { weight: -group, firstDigit: Number(digits) };
}

/** The result scale PostgreSQL chooses for numeric division var1 / var2 (select_div_scale). */
export function pgDivisionScale(u1: bigint, dscale1: number, u2: bigint, dscale2: number): number {
  const a = numericWeightAndFirstDigit(u1, dscale1);
  const b = numericWeightAndFirstDigit(u2, dscale2);
  let qweight = a.weight - b.weight;
  if (a.firstDigit <= b.firstDigit) qweight--;
  let rscale = NUMERIC_MIN_SIG_DIGITS - qweight * DEC_DIGITS;
  rscale = Math.max(rscale, dscale1, dscale2, 0);
  return Math.min(rscale, NUMERIC_MAX_DISPLAY_SCALE);
}

export interface InterestSplit {
  interest: bigint;
  principal: bigint;
}

/**
 * Splits a payment of `amountCents` on a flat-rate loan with `rate4` (the monthly rate times 10^4,
 * numeric(6,4)) over `installments`: interest = round(a·k/(1+k), 2), principal = a − interest.
 */
export function interestSplit(amountCents: bigint, rate4: bigint, installments: number): InterestSplit {
  const k4 = rate4 * BigInt(installments); // k, scale 4
  const num = amountCents * k4; // a·k, scale 6
  const den = 10_000n + k4; // 1 + k, scale 4
  if (den === 0n) throw new RangeError('interest split undefined: 1 + rate × installments is zero');
  const rscale = pgDivisionScale(num, 6, den, 4);
  // a·k / (1+k) at rscale: num/10^6 ÷ den/10^4 = num / (den·10^2)
  const q = divRoundHalfAway(num * 10n ** BigInt(rscale), den * 100n);
  const interest = roundToScale(q, rscale, 2);
  return { interest, principal: amountCents - interest };
}

export interface PaymentFacts {
  amount: bigint;
  status: PaymentStatus;
  /** ISO timestamp with six fractional digits (sortable as text) */
  paidAt: string;
  interest: bigint | null;
  principal: bigint | null;
}

export interface LoanAggregates {
  totalPaid: bigint;
  principalPaid: bigint;
  interestPaid: bigint;
  outstandingPrincipal: bigint;
  paymentsCount: number;
  lastPaymentAt: string | null;
}

/** Aggregates over the loan's non-voided payments; outstanding = (disbursed ? principal : 0) − principal paid. */
export function loanAggregates(principal: bigint, status: LoanStatus, payments: Iterable<PaymentFacts>): LoanAggregates {
  let totalPaid = 0n;
  let principalPaid = 0n;
  let interestPaid = 0n;
  let paymentsCount = 0;
  let lastPaymentAt: string | null = null;
  for (const p of payments) {
    if (p.status !== 'registered') continue;
    totalPaid += p.amount;
    principalPaid += p.principal ?? 0n;
    interestPaid += p.interest ?? 0n;
    paymentsCount++;
    if (lastPaymentAt === null || p.paidAt > lastPaymentAt) lastPaymentAt = p.paidAt;
  }
  return {
    totalPaid,
    principalPaid,
    interestPaid,
    outstandingPrincipal: (isDisbursed(status) ? principal : 0n) - principalPaid,
    paymentsCount,
    lastPaymentAt,
  };
}
