// What the product's topics must look like, and what to do about the ones that exist: a pure plan
// (unit-tested), executed by topic-admin.ts through the Kafka admin API.
//
// The product owns its topics: every table topic and the dead-letter topic is created at start when
// missing, with the configured partitions, a replication factor capped at the cluster's size, a
// retention that cannot delete what a lagging consumer has not read (unlimited by default, for the
// length of a migration), min.insync.replicas of RF − 1 (at least 1) so that a produce acknowledged by
// acks=all survives the loss of a broker, and max.message.bytes. An existing topic is refused — with
// the topic, the setting, and what to do — when its settings would break ordering or lose data:
//   - fewer partitions than KAFKA_TOPIC_PARTITIONS (the setting was raised after the topic was made:
//     adding partitions moves keys to other partitions, so one row's changes could be applied out of
//     order; more partitions than configured is fine, the producer and the sync follow the topic);
//   - cleanup.policy with compact (compaction keeps one message per key and refuses keyless ones:
//     heartbeats, snapshot markers, truncates);
//   - a retention (time or size) below the configured one;
//   - min.insync.replicas above the replication factor (every acks=all produce would fail).
// A dead-letter topic is not refused for its partition count (its order does not matter).

export interface TopicSettings {
  partitions: number;
  replicationFactor: number;
  /** retention.ms: -1 unlimited */
  retentionMs: number;
  /** retention.bytes per partition: -1 unlimited */
  retentionBytes: number;
  maxMessageBytes: number;
}

export interface ExistingTopic {
  name: string;
  partitions: number;
  replicationFactor: number;
  /** the topic's effective configuration (describeConfigs), values as the broker reports them */
  configs: Record<string, string | undefined>;
}

export interface TopicToCreate {
  name: string;
  partitions: number;
  replicationFactor: number;
  configs: Record<string, string>;
}

export interface TopicPlan {
  create: TopicToCreate[];
  /** existing topics that may be used as they are */
  use: string[];
  /** why an existing topic cannot be used; non-empty means: refuse to start */
  refusals: string[];
  warnings: string[];
}

export interface WantedTopic {
  name: string;
  role: 'table' | 'dead-letter';
}

/** -1 (or any negative) is unlimited; compares "a keeps at least as much as b". */
function keepsAtLeast(a: number, b: number): boolean {
  if (a < 0) return true;
  if (b < 0) return false;
  return a >= b;
}

function describeRetention(v: number, unit: string): string {
  return v < 0 ? 'unlimited (-1)' : `${v} ${unit}`;
}

export function minInsyncReplicasFor(replicationFactor: number): number {
  return Math.max(1, replicationFactor - 1);
}

export function planTopics(options: {
  wanted: WantedTopic[];
  existing: ExistingTopic[];
  settings: TopicSettings;
  brokerCount: number;
}): TopicPlan {
  const { settings } = options;
  const plan: TopicPlan = { create: [], use: [], refusals: [], warnings: [] };
  let rf = settings.replicationFactor;
  if (options.brokerCount < rf) {
    rf = Math.max(1, options.brokerCount);
    if (options.wanted.some((w) => !options.existing.some((e) => e.name === w.name))) {
      plan.warnings.push(
        `KAFKA_REPLICATION_FACTOR is ${settings.replicationFactor} but the cluster has ${options.brokerCount} broker(s): topics are created with replication factor ${rf}, so losing a broker can lose acknowledged changes; use a cluster of at least ${settings.replicationFactor} brokers in production`,
      );
    }
  }
  const configs: Record<string, string> = {
    'cleanup.policy': 'delete',
    'retention.ms': String(settings.retentionMs),
    'retention.bytes': String(settings.retentionBytes),
    'min.insync.replicas': String(minInsyncReplicasFor(rf)),
    'max.message.bytes': String(settings.maxMessageBytes),
  };
  for (const w of options.wanted) {
    const e = options.existing.find((x) => x.name === w.name);
    if (!e) {
      plan.create.push({ name: w.name, partitions: settings.partitions, replicationFactor: rf, configs: { ...configs } });
      continue;
    }
    const problems: string[] = [];
    if (w.role === 'table' && e.partitions < settings.partitions) {
      problems.push(
        `topic ${e.name} has ${e.partitions} partitions but KAFKA_TOPIC_PARTITIONS is ${settings.partitions}: adding partitions to a topic that holds changes moves keys to other partitions and breaks the per-row order the sync relies on. Keep KAFKA_TOPIC_PARTITIONS=${e.partitions}, or start over on a new TOPIC_PREFIX and KAFKA_GROUP_ID (with a new slot) so that the topics are created with ${settings.partitions}`,
      );
    } else if (w.role === 'table' && e.partitions > settings.partitions) {
      plan.warnings.push(`topic ${e.name} has ${e.partitions} partitions, more than KAFKA_TOPIC_PARTITIONS=${settings.partitions}: it is used as it is`);
    }
    const policy = e.configs['cleanup.policy'] ?? 'delete';
    if (policy.split(',').map((s) => s.trim()).includes('compact')) {
      problems.push(
        `topic ${e.name} has cleanup.policy=${policy}: compaction keeps only the newest message per key and drops changes a lagging consumer has not read (and refuses the keyless heartbeats, snapshot markers and truncates). Set cleanup.policy=delete: kafka-configs.sh --alter --entity-type topics --entity-name ${e.name} --add-config cleanup.policy=delete`,
      );
    }
    const retentionMs = Number(e.configs['retention.ms'] ?? '-1');
    if (!keepsAtLeast(retentionMs, settings.retentionMs)) {
      problems.push(
        `topic ${e.name} has retention.ms=${retentionMs}, below KAFKA_TOPIC_RETENTION_MS (${describeRetention(settings.retentionMs, 'ms')}): changes a lagging sync has not read yet could be deleted. Raise it: kafka-configs.sh --alter --entity-type topics --entity-name ${e.name} --add-config retention.ms=${settings.retentionMs}`,
      );
    }
    const retentionBytes = Number(e.configs['retention.bytes'] ?? '-1');
    if (!keepsAtLeast(retentionBytes, settings.retentionBytes)) {
      problems.push(
        `topic ${e.name} has retention.bytes=${retentionBytes}, below KAFKA_TOPIC_RETENTION_BYTES (${describeRetention(settings.retentionBytes, 'bytes')}): changes a lagging sync has not read yet could be deleted. Raise it: kafka-configs.sh --alter --entity-type topics --entity-name ${e.name} --add-config retention.bytes=${settings.retentionBytes}`,
      );
    }
    const minIsr = Number(e.configs['min.insync.replicas'] ?? '1');
    if (minIsr > e.replicationFactor) {
      problems.push(
        `topic ${e.name} has min.insync.replicas=${minIsr} above its replication factor ${e.replicationFactor}: every produce with acks=all fails. Lower it: kafka-configs.sh --alter --entity-type topics --entity-name ${e.name} --add-config min.insync.replicas=${minInsyncReplicasFor(e.replicationFactor)}`,
      );
    } else if (e.replicationFactor < settings.replicationFactor && e.replicationFactor < options.brokerCount) {
      plan.warnings.push(`topic ${e.name} has replication factor ${e.replicationFactor}, below KAFKA_REPLICATION_FACTOR=${settings.replicationFactor}: it is used as it is`);
    }
    if (problems.length > 0) plan.refusals.push(...problems);
    else plan.use.push(e.name);
  }
  return plan;
}
