// Assembles the pipeline's processes for one of the two modes:
//   kafka   capture → Kafka (JSON, or Avro with the registry) → sync consumer group; DLQ topic
//   inline  capture → in-process hand-off → sync, in one process; the slot is acknowledged after the apply
// Any subset of {capture, sync} can run in a process; `run` starts both (plus the HTTP server).
import { SourceLoadSampler } from '../../connectors/postgres/source-load.ts';
import os from 'node:os';
import { randomBytes } from 'node:crypto';
import type { Config } from '../runtime/config.ts';
import type { Logger } from '../runtime/logger.ts';
import type { Metrics } from '../runtime/metrics.ts';
import type { Database } from '../../connectors/postgres/database.ts';
import type { EventPublisher, EventSource, EventDecoder, DeadLetterSink } from '../domain/ports.ts';
import { CAPTURED_TABLES } from '../domain/change-event.ts';
import { InlineChannel } from '../../connectors/inline/inline-channel.ts';
import { createKafka } from '../../connectors/kafka/kafka-client.ts';
import { KafkaEventPublisher } from '../../connectors/kafka/kafka-publisher.ts';
import { KafkaEventSource } from '../../connectors/kafka/kafka-source.ts';
import { KafkaDeadLetterSink } from '../../connectors/kafka/dead-letter.ts';
import { JsonEventCodec, AvroEventCodec, type EventEncoder } from '../../connectors/kafka/event-codec.ts';
import { topicFor, deadLetterTopic } from '../../connectors/kafka/envelope.ts';
import { ensureTopics } from '../../connectors/kafka/topic-admin.ts';
import type { TopicSettings } from '../../connectors/kafka/topic-plan.ts';
import { recordUnpublishable, initUnpublishableSeries } from '../capture/unpublishable-events.ts';
import { CaptureService, PUBLISH_STALL_MS } from '../capture/capture-service.ts';
import { Snapshotter } from '../capture/snapshotter.ts';
import { SyncService, topicTablesFor } from '../sync/sync-service.ts';
import { SchemaRegistry } from '@kafkajs/confluent-schema-registry';
import { CrashPoints } from '../runtime/crash-points.ts';
import { ControlLoop } from '../runtime/control-loop.ts';

export type PipelineMode = 'kafka' | 'inline';

export interface PipelineOptions {
  config: Config;
  databaseUrl: string;
  database: Database;
  logger: Logger;
  metrics: Metrics;
  mode: PipelineMode;
  capture: boolean;
  sync: boolean;
}

export interface RunningPipeline {
  capture: CaptureService | undefined;
  snapshotter: Snapshotter | undefined;
  sync: SyncService | undefined;
  mode: PipelineMode;
  /** Graceful: capture drains and confirms, then the sync finishes its batch and commits. */
  stop(timeoutMs?: number): Promise<void>;
}

export function instanceId(): string {
  return `${os.hostname()}-${process.pid}-${randomBytes(2).toString('hex')}`;
}

export async function startPipeline(options: PipelineOptions): Promise<RunningPipeline> {
  const { config, logger, metrics } = options;
  const instance = instanceId();
  const crash = new CrashPoints(config.crashAt);
  if (config.crashAt) logger.warn({ crashAt: config.crashAt }, 'fault injection armed: this process will SIGKILL itself at a crash point');
  let publisher: EventPublisher;
  let source: EventSource | undefined;
  let decoder: EventDecoder | null = null;
  let deadLetter: (DeadLetterSink & { close(): Promise<void> }) | null = null;
  const closers: (() => Promise<void>)[] = [];

  if (options.mode === 'inline') {
    if (!(options.capture && options.sync)) throw new Error('inline mode runs capture and sync together in one process');
    const channel = new InlineChannel({ maxBatch: config.applyBatchSize });
    publisher = channel;
    source = channel;
  } else {
    if (!config.kafka.brokers) throw new Error('KAFKA_BROKERS is required unless the pipeline runs inline (--inline)');
    const kafka = createKafka({ brokers: config.kafka.brokers, clientId: config.kafka.clientId, logger });
    const registry = config.kafka.schemaRegistryUrl ? new SchemaRegistry({ host: config.kafka.schemaRegistryUrl }) : null;
    const codec = registry ? new AvroEventCodec(registry, config.topicPrefix) : new JsonEventCodec(config.topicPrefix);
    decoder = codec;
    const topicSettings: TopicSettings = config.kafka.topics;
    const kp = new KafkaEventPublisher({
      kafka,
      encoder: codec as EventEncoder,
      prefix: config.topicPrefix,
      logger: logger.child({ component: 'kafka-publisher' }),
      topics: topicSettings,
      compression: config.kafka.compression,
      onUnpublishable: (u) => recordUnpublishable(options.database.pool, metrics, u),
    });
    publisher = kp;
    closers.push(() => kp.close());
    // the topics are checked (created when missing) once per process, before the capture publishes and
    // before the sync subscribes, whichever process starts first; the dead-letter topic is the sync's
    const ensured = await ensureTopics({
      kafka,
      wanted: [
        ...CAPTURED_TABLES.map((t) => ({ name: topicFor(config.topicPrefix, t), role: 'table' as const })),
        ...(options.sync ? [{ name: deadLetterTopic(config.topicPrefix), role: 'dead-letter' as const }] : []),
      ],
      settings: topicSettings,
      logger,
    });
    if (options.capture) {
      initUnpublishableSeries(metrics, CAPTURED_TABLES);
      await kp.connect(ensured);
    }
    if (options.sync) {
      source = new KafkaEventSource({
        kafka,
        groupId: config.kafka.groupId,
        topics: CAPTURED_TABLES.map((t) => topicFor(config.topicPrefix, t)),
        logger,
        crash,
        sessionTimeoutMs: config.kafka.sessionTimeoutMs,
        partitionsConsumedConcurrently: config.kafka.concurrentPartitions,
      });
      const dlq = new KafkaDeadLetterSink({ kafka, prefix: config.topicPrefix });
      deadLetter = dlq;
      closers.push(() => dlq.close());
    }
  }

  // one control loop for the process: the control row and the source load are read once a second and
  // its snapshotter and its sync decide on the same snapshot
  const sourceLoad = config.throttle.sourceLoadQuery && config.throttle.sourceLoadThreshold !== undefined
    ? new SourceLoadSampler({ pool: options.database.pool, query: config.throttle.sourceLoadQuery, logger, metrics })
    : undefined;
  const control = new ControlLoop({ pool: options.database.pool, sourceLoad: sourceLoad && (() => sourceLoad.current()), logger: logger.child({ component: 'control' }) });
  let sync: SyncService | undefined;
  if (options.sync) {
    sync = new SyncService({
      pool: options.database.pool,
      source: source!,
      decoder,
      deadLetter,
      groupId: options.mode === 'kafka' ? config.kafka.groupId : null,
      topicTables: topicTablesFor((t) => topicFor(config.topicPrefix, t)),
      config: {
        applyBatchSize: config.applyBatchSize,
        maxApplyAttempts: config.maxApplyAttempts,
        heartbeatIntervalMs: config.heartbeatIntervalMs,
        errorRate: config.errorRate,
        throttle: { sourceLoadThreshold: config.throttle.sourceLoadThreshold },
      },
      control,
      logger: logger.child({ component: 'sync' }),
      metrics,
      instance,
      crash,
    });
    await sync.start();
  }

  let capture: CaptureService | undefined;
  let snapshotter: Snapshotter | undefined;
  if (options.capture) {
    capture = new CaptureService({
      databaseUrl: options.databaseUrl,
      pool: options.database.pool,
      publisher,
      config: {
        slotName: config.slotName,
        publicationName: config.publicationName,
        publishBatchSize: config.publishBatchSize,
        // inline, publish() resolves after the apply and consecutive calls are merged: nothing to gain
        publishLingerMs: options.mode === 'kafka' ? config.publishLingerMs : 0,
        maxBufferedChanges: config.captureMaxBufferedChanges,
        heartbeatIntervalMs: config.heartbeatIntervalMs,
        publishStallMs: options.mode === 'kafka' ? PUBLISH_STALL_MS : undefined,
      },
      logger: logger.child({ component: 'capture' }),
      metrics,
      instance,
      crash,
    });
    capture.start();
    snapshotter = new Snapshotter({
      pool: options.database.pool,
      capture,
      config: {
        chunkSize: config.snapshotChunkSize,
        maxChunksInFlight: config.snapshotMaxChunksInFlight,
        throttleLagSeconds: config.throttle.lagSeconds,
        sourceLoadThreshold: config.throttle.sourceLoadThreshold,
      },
      control,
      logger: logger.child({ component: 'snapshot' }),
      metrics,
    });
    await snapshotter.start();
  }

  let stopped: Promise<void> | undefined;
  return {
    capture,
    snapshotter,
    sync,
    mode: options.mode,
    stop(timeoutMs = config.shutdownTimeoutMs) {
      stopped ??= (async () => {
        snapshotter?.requestStop();
        await capture?.stop(timeoutMs);
        await snapshotter?.stop();
        await sync?.stop();
        control.stop();
        for (const close of closers) await close().catch(() => undefined);
      })();
      return stopped;
    },
  };
}
