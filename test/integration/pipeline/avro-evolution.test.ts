// Avro encoding when a known column's values stop fitting its registered type (the source column became
// a bigint): the codec evolves the topic's schema where Avro allows it without loss (int → long, which
// the registry accepts as backward compatible) and throws UnencodableValueError for a value no version
// can carry exactly; the publisher turns that into a failed record instead of retrying for ever.
// Against the Schema Registry double of the test tree (Apicurio's published jar is not runnable: see
// docs/OPERATIONS.md).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SchemaRegistry } from '@kafkajs/confluent-schema-registry';
import { startSchemaRegistryDouble, type SchemaRegistryDouble } from '../../support/schema-registry-double.ts';
import { AvroEventCodec, UnencodableValueError } from '../../../connectors/kafka/event-codec.ts';
import type { ChangeEvent } from '../../../services/domain/change-event.ts';

let registry: SchemaRegistryDouble;
beforeAll(async () => {
  registry = await startSchemaRegistryDouble();
});
afterAll(async () => {
  await registry?.stop();
});

const loan = (cuotas: unknown, seq: number): ChangeEvent => ({
  kind: 'change',
  table: 'Prestamo',
  op: 'u',
  key: 'p1',
  after: {
    id: 'p1', juntaId: 'j1', miembroId: 'm1', monto: '100.00', tasaInteres: '0.0200', cuotas: cuotas as number, estado: 'APROBADO',
    fechaDesembolso: null, fechaVencimiento: null, observaciones: null, createdAt: '2026-01-01T00:00:00.000000Z', updatedAt: '2026-01-01T00:00:00.000000Z',
  },
  unchangedToast: [],
  position: { lsn: '0/16B3748', seq, xid: '1000', commitTime: '2026-01-01T00:00:00.000Z' },
});

describe('Avro codec when a column type changes at the source', () => {
  it('carries int8 text exactly: within int32 as int, beyond it by evolving the field to long', async () => {
    const codec = new AvroEventCodec(new SchemaRegistry({ host: registry.url }), 'evo');
    const topic = 'evo.public.Prestamo';
    const decode = async (e: ChangeEvent) => codec.decode({ origin: null, key: null, value: (await codec.encode(e, topic, '{"id":"p1"}')).value });

    const small = await decode(loan(12, 1));
    expect(small.kind === 'change' && small.after!.cuotas).toBe(12);
    // after ALTER COLUMN cuotas TYPE bigint, pgoutput sends int8 as exact text
    const asText = await decode(loan('12', 2));
    expect(asText.kind === 'change' && asText.after!.cuotas).toBe(12);
    expect(registry.subjects().get(`${topic}-value`)).toHaveLength(1);

    const big = await decode(loan('3000000000', 3));
    expect(big.kind === 'change' && big.after!.cuotas).toBe(3_000_000_000);
    const versions = registry.subjects().get(`${topic}-value`)!;
    expect(versions).toHaveLength(2);
    const cuotas = JSON.parse(versions[1]!.schema).fields.find((f: { name: string }) => f.name === 'before').type[1].fields.find((f: { name: string }) => f.name === 'cuotas');
    expect(cuotas.type).toEqual(['null', 'long']);
    // older messages (int) still decode
    expect((await decode(loan(7, 4))).kind).toBe('change');
  });

  it('refuses, with the column and value, what no Avro integer carries exactly', async () => {
    const codec = new AvroEventCodec(new SchemaRegistry({ host: registry.url }), 'evo2');
    const topic = 'evo2.public.Prestamo';
    for (const bad of ['12345678901234567890', '1.5', 'abc']) {
      const err = await codec.encode(loan(bad, 1), topic, null).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(UnencodableValueError);
      expect((err as Error).message).toContain('column cuotas is');
      expect((err as Error).message).toContain(JSON.stringify(bad));
    }
  });
});
