// Configuration: one typed object, validated once at start from an environment-like record.
// Only the CLI entry point reads process.env; everything below receives a Config.
import { z } from 'zod';
import { CRASH_AT_PATTERN, CRASH_POINTS, type CrashPoint } from './crash-points.ts';

const IDENTIFIER = /^[a-z_][a-z0-9_]{0,62}$/;
const TOPIC_PREFIX = /^[A-Za-z0-9._-]{1,200}$/;
/** Bytes allowed for one key in a snapshot chunk's marker (see loadConfig). */
const MARKER_BYTES_PER_KEY = 64;
const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

const postgresUrl = z
  .string()
  .trim()
  .refine((v) => {
    try {
      const u = new URL(v);
      return u.protocol === 'postgres:' || u.protocol === 'postgresql:';
    } catch {
      return false;
    }
  }, 'must be a postgres:// or postgresql:// URL');

const brokerList = z
  .string()
  .trim()
  .transform((v) => v.split(',').map((s) => s.trim()).filter((s) => s.length > 0))
  .refine((list) => list.length > 0 && list.every((b) => /^[A-Za-z0-9.\-_[\]:]+:\d{1,5}$/.test(b)), {
    message: 'must be a comma-separated list of host:port',
  });

const httpUrl = z
  .string()
  .trim()
  .refine((v) => {
    try {
      const u = new URL(v);
      return u.protocol === 'http:' || u.protocol === 'https:';
    } catch {
      return false;
    }
  }, 'must be an http:// or https:// URL');

const int = (min: number, max: number) => z.coerce.number().int().min(min).max(max);
/** -1 (unlimited) or at least `min` */
const retention = (min: number, unit: string) =>
  z.coerce
    .number()
    .int()
    .refine((v) => v === -1 || (v >= min && v <= Number.MAX_SAFE_INTEGER), `-1 (unlimited) or at least ${min} ${unit}`);
const ratio = z.coerce.number().min(0).max(1);
const bool = z
  .enum(['true', 'false', '1', '0', 'yes', 'no'])
  .transform((v) => v === 'true' || v === '1' || v === 'yes');
const optional = <T extends z.ZodType>(schema: T) =>
  z.preprocess((v) => (v === '' ? undefined : v), schema.optional());

/** Every variable the services read, with its default. The README's configuration table lists them. */
const envSchema = z.object({
  DATABASE_URL: optional(postgresUrl),
  KAFKA_BROKERS: optional(brokerList),
  KAFKA_CLIENT_ID: z.string().regex(/^[A-Za-z0-9._-]{1,100}$/).default('prestamos-cdc'),
  KAFKA_GROUP_ID: z.string().regex(/^[A-Za-z0-9._-]{1,200}$/).default('prestamos-cdc-sync'),
  KAFKA_SESSION_TIMEOUT_MS: int(6000, 300_000).default(30_000),
  KAFKA_CONCURRENT_PARTITIONS: int(1, 1000).default(32),
  KAFKA_TOPIC_PARTITIONS: int(1, 10_000).default(6),
  KAFKA_REPLICATION_FACTOR: int(1, 32).default(3),
  KAFKA_TOPIC_RETENTION_MS: retention(3_600_000, 'milliseconds').default(-1),
  KAFKA_TOPIC_RETENTION_BYTES: retention(1024 * 1024, 'bytes').default(-1),
  KAFKA_MAX_MESSAGE_BYTES: int(16 * 1024, 100 * 1024 * 1024).default(1_048_588),
  KAFKA_COMPRESSION: z.enum(['none', 'gzip']).default('gzip'),
  SCHEMA_REGISTRY_URL: optional(httpUrl),
  TOPIC_PREFIX: z.string().regex(TOPIC_PREFIX, 'letters, digits, ".", "_" or "-", at most 200').default('junta'),
  SLOT_NAME: z.string().regex(IDENTIFIER, 'a lowercase SQL identifier: [a-z_][a-z0-9_]*, at most 63').default('prestamos_cdc'),
  PUBLICATION_NAME: z.string().regex(IDENTIFIER, 'a lowercase SQL identifier: [a-z_][a-z0-9_]*, at most 63').default('prestamos_cdc'),
  HTTP_HOST: z.string().min(1).default('0.0.0.0'),
  HTTP_PORT: int(0, 65535).default(8080),
  LOG_LEVEL: z.enum(LOG_LEVELS).default('info'),
  APPLY_BATCH_SIZE: int(1, 50_000).default(2000),
  APPLY_MAX_ATTEMPTS: int(1, 1000).default(5),
  SNAPSHOT_CHUNK_SIZE: int(1, 100_000).default(2000),
  SNAPSHOT_MAX_CHUNKS_IN_FLIGHT: int(1, 100).default(4),
  PUBLISH_BATCH_SIZE: int(1, 50_000).default(2000),
  PUBLISH_LINGER_MS: int(0, 10_000).default(100),
  CAPTURE_MAX_BUFFERED_CHANGES: int(100, 1_000_000).default(20_000),
  HEARTBEAT_INTERVAL_MS: int(100, 3_600_000).default(5000),
  ERROR_RATE_THRESHOLD: ratio.default(0.01),
  ERROR_RATE_WINDOW_SECONDS: int(1, 86_400).default(300),
  ERROR_RATE_MIN_EVENTS: int(1, 10_000_000).default(100),
  THROTTLE_LAG_SECONDS: z.coerce.number().positive().default(30),
  SOURCE_LOAD_QUERY: optional(z.string().min(1).max(10_000)),
  SOURCE_LOAD_THRESHOLD: optional(z.coerce.number()),
  CUTOVER_MAX_LAG_SECONDS: z.coerce.number().positive().default(5),
  LOCK_TIMEOUT_MS: int(1, 600_000).default(2000),
  SHUTDOWN_TIMEOUT_MS: int(100, 600_000).default(30_000),
  ENABLE_TEST_DATA: bool.default(false),
  PG_POOL_MAX: int(1, 1000).default(10),
  VERIFY_INTERVAL_SECONDS: int(1, 86_400).default(60),
  VERIFY_LOANS_PER_PASS: int(1, 10_000_000).default(50_000),
  VERIFY_SLICE_LOANS: int(1, 1_000_000).default(5_000),
  REPAIR_MODE: z.enum(['off', 'auto']).default('off'),
  REPAIR_MAX_PER_HOUR: int(0, 100_000).default(60),
  CRASH_AT: optional(z.string().regex(CRASH_AT_PATTERN, `a crash point (${CRASH_POINTS.join(', ')}), optionally :N`)),
});

export type Env = Record<string, string | undefined>;

export interface Config {
  databaseUrl: string | undefined;
  kafka: {
    brokers: string[] | undefined;
    clientId: string;
    groupId: string;
    sessionTimeoutMs: number;
    /** partitions a sync handles at once; their rows are applied in shared transactions */
    concurrentPartitions: number;
    schemaRegistryUrl: string | undefined;
    topics: {
      partitions: number;
      replicationFactor: number;
      /** -1: unlimited */
      retentionMs: number;
      /** per partition; -1: unlimited */
      retentionBytes: number;
      /** max.message.bytes of the topics the product creates; produce requests stay under each topic's */
      maxMessageBytes: number;
    };
    compression: 'none' | 'gzip';
  };
  topicPrefix: string;
  slotName: string;
  publicationName: string;
  http: { host: string; port: number };
  logLevel: (typeof LOG_LEVELS)[number];
  applyBatchSize: number;
  maxApplyAttempts: number;
  snapshotChunkSize: number;
  snapshotMaxChunksInFlight: number;
  publishBatchSize: number;
  /** Kafka mode: how long the capture lets a partial batch gather before producing it */
  publishLingerMs: number;
  captureMaxBufferedChanges: number;
  heartbeatIntervalMs: number;
  errorRate: { threshold: number; windowSeconds: number; minEvents: number };
  throttle: { lagSeconds: number; sourceLoadQuery: string | undefined; sourceLoadThreshold: number | undefined };
  cutoverMaxLagSeconds: number;
  lockTimeoutMs: number;
  shutdownTimeoutMs: number;
  enableTestData: boolean;
  pgPoolMax: number;
  /** background verification: how often, how many loans a pass checks, how many loans a range holds */
  verify: { intervalSeconds: number; loansPerPass: number; sliceLoans: number };
  /** self-repair of rows found wrong twice in a row */
  repair: { mode: 'off' | 'auto'; maxPerHour: number };
  /** fault injection for crash tests: the process kills itself (SIGKILL) the Nth time it reaches this point */
  crashAt: { point: CrashPoint; nth: number } | undefined;
}

export class ConfigError extends Error {
  readonly problems: { variable: string; message: string }[];
  constructor(problems: { variable: string; message: string }[]) {
    super(
      'Invalid configuration:\n' + problems.map((p) => `  ${p.variable}: ${p.message}`).join('\n'),
    );
    this.name = 'ConfigError';
    this.problems = problems;
  }
}

/** Validates the environment; throws a ConfigError that names every offending variable. */
export function loadConfig(env: Env): Config {
  const known = Object.fromEntries(Object.keys(envSchema.shape).map((k) => [k, env[k]]));
  const parsed = envSchema.safeParse(known);
  if (!parsed.success) {
    throw new ConfigError(
      parsed.error.issues.map((issue) => ({
        variable: String(issue.path[0] ?? '(environment)'),
        message: issue.message,
      })),
    );
  }
  const e = parsed.data;
  const problems: { variable: string; message: string }[] = [];
  if ((e.SOURCE_LOAD_QUERY === undefined) !== (e.SOURCE_LOAD_THRESHOLD === undefined)) {
    problems.push({
      variable: e.SOURCE_LOAD_QUERY === undefined ? 'SOURCE_LOAD_QUERY' : 'SOURCE_LOAD_THRESHOLD',
      message: 'SOURCE_LOAD_QUERY and SOURCE_LOAD_THRESHOLD must be set together',
    });
  }
  // In Kafka mode a snapshot chunk's marker lists the chunk's keys: it must fit in one message. Allowing
  // 64 bytes a key (ids are cuid-like, ~25) within half of the topic's message limit keeps it well under.
  const maxChunk = Math.floor(e.KAFKA_MAX_MESSAGE_BYTES / 2 / MARKER_BYTES_PER_KEY);
  if (e.KAFKA_BROKERS && e.SNAPSHOT_CHUNK_SIZE > maxChunk) {
    problems.push({
      variable: 'SNAPSHOT_CHUNK_SIZE',
      message: `at most ${maxChunk} with KAFKA_MAX_MESSAGE_BYTES=${e.KAFKA_MAX_MESSAGE_BYTES}: a chunk's marker lists its keys (${MARKER_BYTES_PER_KEY} bytes allowed a key) and must fit in half a message`,
    });
  }
  if (problems.length > 0) throw new ConfigError(problems);
  return {
    databaseUrl: e.DATABASE_URL,
    kafka: {
      brokers: e.KAFKA_BROKERS,
      clientId: e.KAFKA_CLIENT_ID,
      groupId: e.KAFKA_GROUP_ID,
      sessionTimeoutMs: e.KAFKA_SESSION_TIMEOUT_MS,
      concurrentPartitions: e.KAFKA_CONCURRENT_PARTITIONS,
      schemaRegistryUrl: e.SCHEMA_REGISTRY_URL,
      topics: {
        partitions: e.KAFKA_TOPIC_PARTITIONS,
        replicationFactor: e.KAFKA_REPLICATION_FACTOR,
        retentionMs: e.KAFKA_TOPIC_RETENTION_MS,
        retentionBytes: e.KAFKA_TOPIC_RETENTION_BYTES,
        maxMessageBytes: e.KAFKA_MAX_MESSAGE_BYTES,
      },
      compression: e.KAFKA_COMPRESSION,
    },
    topicPrefix: e.TOPIC_PREFIX,
    slotName: e.SLOT_NAME,
    publicationName: e.PUBLICATION_NAME,
    http: { host: e.HTTP_HOST, port: e.HTTP_PORT },
    logLevel: e.LOG_LEVEL,
    applyBatchSize: e.APPLY_BATCH_SIZE,
    maxApplyAttempts: e.APPLY_MAX_ATTEMPTS,
    snapshotChunkSize: e.SNAPSHOT_CHUNK_SIZE,
    snapshotMaxChunksInFlight: e.SNAPSHOT_MAX_CHUNKS_IN_FLIGHT,
    publishBatchSize: e.PUBLISH_BATCH_SIZE,
    publishLingerMs: e.PUBLISH_LINGER_MS,
    captureMaxBufferedChanges: e.CAPTURE_MAX_BUFFERED_CHANGES,
    heartbeatIntervalMs: e.HEARTBEAT_INTERVAL_MS,
    errorRate: {
      threshold: e.ERROR_RATE_THRESHOLD,
      windowSeconds: e.ERROR_RATE_WINDOW_SECONDS,
      minEvents: e.ERROR_RATE_MIN_EVENTS,
    },
    throttle: {
      lagSeconds: e.THROTTLE_LAG_SECONDS,
      sourceLoadQuery: e.SOURCE_LOAD_QUERY,
      sourceLoadThreshold: e.SOURCE_LOAD_THRESHOLD,
    },
    cutoverMaxLagSeconds: e.CUTOVER_MAX_LAG_SECONDS,
    lockTimeoutMs: e.LOCK_TIMEOUT_MS,
    shutdownTimeoutMs: e.SHUTDOWN_TIMEOUT_MS,
    enableTestData: e.ENABLE_TEST_DATA,
    pgPoolMax: e.PG_POOL_MAX,
    verify: { intervalSeconds: e.VERIFY_INTERVAL_SECONDS, loansPerPass: e.VERIFY_LOANS_PER_PASS, sliceLoans: e.VERIFY_SLICE_LOANS },
    repair: { mode: e.REPAIR_MODE, maxPerHour: e.REPAIR_MAX_PER_HOUR },
    crashAt: e.CRASH_AT ? { point: e.CRASH_AT.split(':')[0] as CrashPoint, nth: Number(e.CRASH_AT.split(':')[1] ?? 1) } : undefined,
  };
}

/** Names of the variables, for the README table test and `--help`. */
export const CONFIG_VARIABLES = Object.keys(envSchema.shape);

export function requireDatabaseUrl(config: Config): string {
  if (!config.databaseUrl) throw new ConfigError([{ variable: 'DATABASE_URL', message: 'is required for this command' }]);
  return config.databaseUrl;
}
