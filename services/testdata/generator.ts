// Deterministic legacy data: juntas, loans, payments, shares (Accion) and fines (Multa) generated from a
// seed, so that the same request always creates the same rows. Used by POST /prestamos/test/create-data,
// the demo, the benchmarks and the tests. Money is built from integer cents: never a float.
import type { Queryable } from '../runtime/queryable.ts';

/** sfc32: small, fast, good enough for test data, identical on every platform. */
export class Prng {
  private a: number;
  private b: number;
  private c: number;
  private d: number;
  constructor(seed: number) {
    this.a = 0x9e3779b9;
    this.b = 0x243f6a88;
    this.c = 0xb7e15162;
    this.d = seed >>> 0;
    for (let i = 0; i < 15; i++) this.next();
  }
  next(): number {
    this.a >>>= 0;
    this.b >>>= 0;
    this.c >>>= 0;
    this.d >>>= 0;
    let t = (this.a + this.b) | 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) | 0;
    this.c = (this.c << 21) | (this.c >>> 11);
    this.d = (this.d + 1) | 0;
    t = (t + this.d) | 0;
    this.c = (this.c + t) | 0;
    return (t >>> 0) / 4294967296;
  }
  int(min: number, max: number): number {
    return min + Math.floor(this.next() * (max - min + 1));
  }
  pick<T>(items: readonly T[]): T {
    return items[Math.floor(this.next() * items.length)]!;
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
}

/** Integer cents to a numeric string with two decimals ("1234.50"). */
export function cents(n: number): string {
  const neg = n < 0;
  const abs = Math.abs(Math.trunc(n));
  const s = `${Math.floor(abs / 100)}.${String(abs % 100).padStart(2, '0')}`;
  return neg ? `-${s}` : s;
}

/** Basis points of a hundredth (1e-4) to a rate string ("0.0250"). */
export function rate4(n: number): string {
  return `${Math.floor(n / 10000)}.${String(n % 10000).padStart(4, '0')}`;
}

export const LOAN_STATES = ['PENDIENTE', 'APROBADO', 'DESEMBOLSADO', 'PAGADO', 'VENCIDO', 'CANCELADO'] as const;
export type LoanState = (typeof LOAN_STATES)[number];

export interface JuntaRow {
  id: string;
  nombre: string;
}
export interface PrestamoRow {
  id: string;
  juntaId: string;
  miembroId: string;
  monto: string;
  tasaInteres: string;
  cuotas: number;
  estado: LoanState;
  fechaDesembolso: string | null;
  fechaVencimiento: string | null;
  observaciones: string | null;
}
export interface PagoRow {
  id: string;
  prestamoId: string;
  monto: string;
  fecha: string;
  anulado: boolean;
}
export interface AccionRow {
  id: string;
  juntaId: string;
  miembroId: string;
  cantidad: number;
  valorUnitario: string;
  fecha: string;
}
export interface MultaRow {
  id: string;
  juntaId: string;
  miembroId: string;
  monto: string;
  motivo: string;
  pagada: boolean;
  fecha: string;
}

export interface LegacyData {
  juntas: JuntaRow[];
  prestamos: PrestamoRow[];
  pagos: PagoRow[];
  acciones: AccionRow[];
  multas: MultaRow[];
}

export interface GenerateOptions {
  seed: number;
  juntas: number;
  loansPerJunta: number;
  /** Payments per disbursed loan, at most. */
  maxPaymentsPerLoan?: number;
  accionesPerJunta?: number;
  multasPerJunta?: number;
  /** Id prefix, so that several generated sets can live side by side (and be removed again). */
  idPrefix?: string;
  /** Share of loans whose notes are large enough to be TOASTed. */
  largeNotesShare?: number;
}

const EPOCH = Date.UTC(2024, 0, 1);
const DAY = 86_400_000;

export function timestamp3(ms: number): string {
  return new Date(ms).toISOString().replace('T', ' ').replace('Z', '');
}

/** A cuid-like id: prefix, then base-36 digits from the generator (deterministic). */
export function makeId(prng: Prng, prefix: string): string {
  let s = prefix;
  for (let i = 0; i < 20; i++) s += '0123456789abcdefghijklmnopqrstuvwxyz'[Math.floor(prng.next() * 36)];
  return s;
}

export function largeNotes(prng: Prng): string {
  // Incompressible enough that PostgreSQL stores it out of line (TOAST).
  let s = '';
  while (s.length < 6000) s += prng.next().toString(36).slice(2);
  return s;
}

export function generateLegacyData(options: GenerateOptions): LegacyData {
  const prng = new Prng(options.seed);
  const prefix = options.idPrefix ?? 'c';
  const maxPayments = options.maxPaymentsPerLoan ?? 6;
  const data: LegacyData = { juntas: [], prestamos: [], pagos: [], acciones: [], multas: [] };
  for (let j = 0; j < options.juntas; j++) {
    const junta: JuntaRow = { id: makeId(prng, prefix + 'j'), nombre: `Junta ${prefix}${j + 1}` };
    data.juntas.push(junta);
    const members = Array.from({ length: 12 }, () => makeId(prng, prefix + 'm'));
    for (let l = 0; l < options.loansPerJunta; l++) {
      const estado = prng.pick(LOAN_STATES);
      const disbursed = estado === 'DESEMBOLSADO' || estado === 'PAGADO' || estado === 'VENCIDO';
      const start = EPOCH + prng.int(0, 300) * DAY + prng.int(0, DAY - 1);
      const cuotas = prng.pick([1, 3, 6, 6, 12, 12, 18, 24]);
      const loan: PrestamoRow = {
        id: makeId(prng, prefix + 'p'),
        juntaId: junta.id,
        miembroId: prng.pick(members),
        monto: cents(prng.int(10_000, 2_000_000)),
        tasaInteres: rate4(prng.int(0, 500)),
        cuotas,
        estado,
        fechaDesembolso: disbursed ? timestamp3(start) : null,
        fechaVencimiento: disbursed ? timestamp3(start + cuotas * 30 * DAY) : null,
        observaciones: prng.chance(options.largeNotesShare ?? 0.02) ? largeNotes(prng) : prng.chance(0.5) ? `Préstamo ${l + 1}` : null,
      };
      data.prestamos.push(loan);
      if (disbursed) {
        const n = prng.int(0, maxPayments);
        for (let p = 0; p < n; p++) {
          data.pagos.push({
            id: makeId(prng, prefix + 'g'),
            prestamoId: loan.id,
            monto: cents(prng.int(1_000, 300_000)),
            fecha: timestamp3(start + (p + 1) * 30 * DAY),
            anulado: prng.chance(0.05),
          });
        }
      }
    }
    for (let a = 0; a < (options.accionesPerJunta ?? 4); a++) {
      data.acciones.push({
        id: makeId(prng, prefix + 'a'),
        juntaId: junta.id,
        miembroId: prng.pick(members),
        cantidad: prng.int(1, 20),
        valorUnitario: cents(prng.int(1_000, 20_000)),
        fecha: timestamp3(EPOCH + prng.int(0, 300) * DAY),
      });
    }
    for (let m = 0; m < (options.multasPerJunta ?? 2); m++) {
      data.multas.push({
        id: makeId(prng, prefix + 'f'),
        juntaId: junta.id,
        miembroId: prng.pick(members),
        monto: cents(prng.int(500, 10_000)),
        motivo: prng.pick(['Tardanza', 'Inasistencia', 'Mora']),
        pagada: prng.chance(0.6),
        fecha: timestamp3(EPOCH + prng.int(0, 300) * DAY),
      });
    }
  }
  return data;
}


const CHUNK = 5000;

function chunks<T>(rows: T[]): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < rows.length; i += CHUNK) out.push(rows.slice(i, i + CHUNK));
  return out;
}

/** Inserts generated rows with set-based statements (unnest), in dependency order. */
export async function insertLegacyData(db: Queryable, data: LegacyData): Promise<void> {
  for (const rows of chunks(data.juntas)) {
    await db.query(
      `INSERT INTO "Junta" (id, nombre, "createdAt", "updatedAt")
       SELECT id, nombre, now(), now() FROM unnest($1::text[], $2::text[]) AS t(id, nombre)`,
      [rows.map((r) => r.id), rows.map((r) => r.nombre)],
    );
  }
  for (const rows of chunks(data.prestamos)) {
    await db.query(
      `INSERT INTO "Prestamo" (id, "juntaId", "miembroId", monto, "tasaInteres", cuotas, estado,
                               "fechaDesembolso", "fechaVencimiento", observaciones, "createdAt", "updatedAt")
       SELECT id, junta, miembro, monto, tasa, cuotas, estado, fd, fv, obs, now(), now()
         FROM unnest($1::text[], $2::text[], $3::text[], $4::numeric[], $5::numeric[], $6::int[], $7::text[],
                     $8::timestamp[], $9::timestamp[], $10::text[])
           AS t(id, junta, miembro, monto, tasa, cuotas, estado, fd, fv, obs)`,
      [
        rows.map((r) => r.id),
        rows.map((r) => r.juntaId),
        rows.map((r) => r.miembroId),
        rows.map((r) => r.monto),
        rows.map((r) => r.tasaInteres),
        rows.map((r) => r.cuotas),
        rows.map((r) => r.estado),
        rows.map((r) => r.fechaDesembolso),
        rows.map((r) => r.fechaVencimiento),
        rows.map((r) => r.observaciones),
      ],
    );
  }
  for (const rows of chunks(data.pagos)) {
    await db.query(
      `INSERT INTO "PagoPrestamo" (id, "prestamoId", monto, fecha, anulado, "createdAt", "updatedAt")
       SELECT id, prestamo, monto, fecha, anulado, now(), now()
         FROM unnest($1::text[], $2::text[], $3::numeric[], $4::timestamp[], $5::boolean[])
           AS t(id, prestamo, monto, fecha, anulado)`,
      [rows.map((r) => r.id), rows.map((r) => r.prestamoId), rows.map((r) => r.monto), rows.map((r) => r.fecha), rows.map((r) => r.anulado)],
    );
  }
  for (const rows of chunks(data.acciones)) {
    await db.query(
      `INSERT INTO "Accion" (id, "juntaId", "miembroId", cantidad, "valorUnitario", fecha, "createdAt", "updatedAt")
       SELECT id, junta, miembro, cantidad, valor, fecha, now(), now()
         FROM unnest($1::text[], $2::text[], $3::text[], $4::int[], $5::numeric[], $6::timestamp[])
           AS t(id, junta, miembro, cantidad, valor, fecha)`,
      [
        rows.map((r) => r.id),
        rows.map((r) => r.juntaId),
        rows.map((r) => r.miembroId),
        rows.map((r) => r.cantidad),
        rows.map((r) => r.valorUnitario),
        rows.map((r) => r.fecha),
      ],
    );
  }
  for (const rows of chunks(data.multas)) {
    await db.query(
      `INSERT INTO "Multa" (id, "juntaId", "miembroId", monto, motivo, pagada, fecha, "createdAt", "updatedAt")
       SELECT id, junta, miembro, monto, motivo, pagada, fecha, now(), now()
         FROM unnest($1::text[], $2::text[], $3::text[], $4::numeric[], $5::text[], $6::boolean[], $7::timestamp[])
           AS t(id, junta, miembro, monto, motivo, pagada, fecha)`,
      [
        rows.map((r) => r.id),
        rows.map((r) => r.juntaId),
        rows.map((r) => r.miembroId),
        rows.map((r) => r.monto),
        rows.map((r) => r.motivo),
        rows.map((r) => r.pagada),
        rows.map((r) => r.fecha),
      ],
    );
  }
}
