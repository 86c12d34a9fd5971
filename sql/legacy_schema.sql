-- Legacy schema of the junta application (Prisma naming). Shipped for development and tests only:
-- in production these tables already exist and this project never writes their rows.
-- Idempotent: safe to run on a database that already has it.

CREATE TABLE IF NOT EXISTS "Junta" (
  "id"        text PRIMARY KEY,
  "nombre"    text NOT NULL,
  "createdAt" timestamp(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
  "updatedAt" timestamp(3) NOT NULL DEFAULT CURRENT_TIMESTAMP
);

CREATE TABLE IF NOT EXISTS "Prestamo" (
  "id"               text PRIMARY KEY,
  "juntaId"          text NOT NULL REFERENCES "Junta"("id") ON DELETE RESTRICT ON UPDATE CASCADE,
  "miembroId"        text NOT NULL,
  "monto"            numeric(12,2) NOT NULL,
  "tasaInteres"      numeric(6,4) NOT NULL,
  "cuotas"           integer NOT NULL,
  "estado"           text NOT NULL DEFAULT 'PENDIENTE',
  "fechaDesembolso"  timestamp(3),
  "fechaVencimiento" timestamp(3),
  "observaciones"    text,
  "createdAt"        timestamp(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
  "updatedAt"        timestamp(3) NOT NULL DEFAULT CURRENT_TIMESTAMP
);
CREATE INDEX IF NOT EXISTS "Prestamo_juntaId_idx" ON "Prestamo"("juntaId");

CREATE TABLE IF NOT EXISTS "PagoPrestamo" (
  "id"         text PRIMARY KEY,
  "prestamoId" text NOT NULL REFERENCES "Prestamo"("id") ON DELETE RESTRICT ON UPDATE CASCADE,
  "monto"      numeric(12,2) NOT NULL,
  "fecha"      timestamp(3) NOT NULL,
  "anulado"    boolean NOT NULL DEFAULT false,
  "createdAt"  timestamp(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
  "updatedAt"  timestamp(3) NOT NULL DEFAULT CURRENT_TIMESTAMP
);
CREATE INDEX IF NOT EXISTS "PagoPrestamo_prestamoId_idx" ON "PagoPrestamo"("prestamoId");

CREATE TABLE IF NOT EXISTS "Accion" (
  "id"            text PRIMARY KEY,
  "juntaId"       text NOT NULL REFERENCES "Junta"("id") ON DELETE RESTRICT ON UPDATE CASCADE,
  "miembroId"     text NOT NULL,
  "cantidad"      integer NOT NULL,
  "valorUnitario" numeric(12,2) NOT NULL,
  "fecha"         timestamp(3) NOT NULL,
  "createdAt"     timestamp(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
  "updatedAt"     timestamp(3) NOT NULL DEFAULT CURRENT_TIMESTAMP
);
CREATE INDEX IF NOT EXISTS "Accion_juntaId_idx" ON "Accion"("juntaId");

CREATE TABLE IF NOT EXISTS "Multa" (
  "id"        text PRIMARY KEY,
  "juntaId"   text NOT NULL REFERENCES "Junta"("id") ON DELETE RESTRICT ON UPDATE CASCADE,
  "miembroId" text NOT NULL,
  "monto"     numeric(12,2) NOT NULL,
  "motivo"    text NOT NULL,
  "pagada"    boolean NOT NULL DEFAULT false,
  "fecha"     timestamp(3) NOT NULL,
  "createdAt" timestamp(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
  "updatedAt" timestamp(3) NOT NULL DEFAULT CURRENT_TIMESTAMP
);
CREATE INDEX IF NOT EXISTS "Multa_juntaId_idx" ON "Multa"("juntaId");
