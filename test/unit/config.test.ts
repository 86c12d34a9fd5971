import { describe, expect, it } from 'vitest';
import { loadConfig, ConfigError } from '../../services/runtime/config.ts';

function problems(env: Record<string, string>): string[] {
  try {
    loadConfig(env);
  } catch (err) {
    if (err instanceof ConfigError) return err.problems.map((p) => p.variable);
    throw err;
  }
  return [];
}

describe('loadConfig', () => {
  it('gives working defaults for an empty environment', () => {
    const c = loadConfig({});
    expect(c.topicPrefix).toBe('junta');
    expect(c.slotName).toBe('prestamos_cdc');
    expect(c.http.port).toBe(8080);
    expect(c.errorRate.threshold).toBe(0.01);
    expect(c.kafka.brokers).toBeUndefined();
    expect(c.enableTestData).toBe(false);
  });

  it('parses lists, numbers and booleans', () => {
    const c = loadConfig({
      DATABASE_URL: 'postgres://u:p@db:5432/junta',
      KAFKA_BROKERS: 'kafka-1:9092, kafka-2:9092',
      SCHEMA_REGISTRY_URL: 'http://registry:8081',
      HTTP_PORT: '9000',
      ENABLE_TEST_DATA: 'true',
      SOURCE_LOAD_QUERY: 'SELECT 1',
      SOURCE_LOAD_THRESHOLD: '0.5',
    });
    expect(c.kafka.brokers).toEqual(['kafka-1:9092', 'kafka-2:9092']);
    expect(c.http.port).toBe(9000);
    expect(c.enableTestData).toBe(true);
    expect(c.throttle.sourceLoadThreshold).toBe(0.5);
  });

  it('names every invalid variable', () => {
    expect(
      problems({
        DATABASE_URL: 'mysql://x',
        KAFKA_BROKERS: 'no-port',
        SCHEMA_REGISTRY_URL: 'ftp://x',
        TOPIC_PREFIX: 'has space',
        SLOT_NAME: 'Robert"); DROP TABLE x; --',
        PUBLICATION_NAME: 'UPPER',
        HTTP_PORT: '70000',
        LOG_LEVEL: 'loud',
        ERROR_RATE_THRESHOLD: '2',
        ENABLE_TEST_DATA: 'maybe',
      }).sort(),
    ).toEqual(
      ['DATABASE_URL', 'ENABLE_TEST_DATA', 'ERROR_RATE_THRESHOLD', 'HTTP_PORT', 'KAFKA_BROKERS', 'LOG_LEVEL', 'PUBLICATION_NAME', 'SCHEMA_REGISTRY_URL', 'SLOT_NAME', 'TOPIC_PREFIX'].sort(),
    );
  });

  it('requires the source-load query and its threshold together', () => {
    expect(problems({ SOURCE_LOAD_QUERY: 'SELECT 1' })).toEqual(['SOURCE_LOAD_THRESHOLD']);
    expect(problems({ SOURCE_LOAD_THRESHOLD: '1' })).toEqual(['SOURCE_LOAD_QUERY']);
  });

  it('treats empty strings as unset', () => {
    expect(loadConfig({ KAFKA_BROKERS: '', SCHEMA_REGISTRY_URL: '' }).kafka.brokers).toBeUndefined();
  });

  it('in Kafka mode, bounds SNAPSHOT_CHUNK_SIZE so that the key list of a chunk marker fits in a message', () => {
    expect(problems({ KAFKA_BROKERS: 'k:9092', SNAPSHOT_CHUNK_SIZE: '8192' })).toEqual([]);
    expect(problems({ KAFKA_BROKERS: 'k:9092', SNAPSHOT_CHUNK_SIZE: '8193' })).toEqual(['SNAPSHOT_CHUNK_SIZE']);
    expect(problems({ KAFKA_BROKERS: 'k:9092', SNAPSHOT_CHUNK_SIZE: '20000', KAFKA_MAX_MESSAGE_BYTES: '4194304' })).toEqual([]);
    // inline there is no message limit
    expect(problems({ SNAPSHOT_CHUNK_SIZE: '100000' })).toEqual([]);
  });
});
