-- The newest TRUNCATE applied per captured table: the floor below which no change of that table may
-- be applied any more. With several partitions a truncate (sent to partition 0) can be consumed before
-- a change committed before it on another partition; without a floor that change would be applied
-- after the truncate removed the table's rows and stay for ever. Every apply transaction reads the
-- floors of its tables FOR SHARE and treats them as the version every row holds at least; a truncate
-- raises its table's floor in its own transaction (which waits for the applies holding the row) before
-- it removes the rows. One row per table from the start, so that both always lock the same row.
CREATE TABLE IF NOT EXISTS prestamos_cdc.truncation_floors (
  source_table text PRIMARY KEY CHECK (source_table IN ('Prestamo', 'PagoPrestamo', 'Accion', 'Multa')),
  lsn          pg_lsn,
  seq          integer,
  xid          xid8,
  raised_at    timestamptz
);
INSERT INTO prestamos_cdc.truncation_floors (source_table)
VALUES ('Prestamo'), ('PagoPrestamo'), ('Accion'), ('Multa')
ON CONFLICT (source_table) DO NOTHING;
