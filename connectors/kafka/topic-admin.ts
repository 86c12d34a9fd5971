// Makes the product's topics exist as topic-plan.ts says, through the Kafka admin API; refuses to go on
// (TopicSettingsError, with every reason) when an existing topic would break ordering or lose data.
// Both the capture and the sync call it at start: whichever starts first creates the topics, and
// brokers with auto.create.topics.enable=false (the usual production setting) work.
import kafkajs, { type Admin, type Kafka } from 'kafkajs';
import type { Logger } from '../../services/runtime/logger.ts';
import { planTopics, type ExistingTopic, type TopicSettings, type WantedTopic } from './topic-plan.ts';

export class TopicSettingsError extends Error {
  readonly refusals: string[];
  constructor(refusals: string[]) {
    super(`Kafka topics cannot be used as they are:\n${refusals.map((r) => `  - ${r}`).join('\n')}`);
    this.name = 'TopicSettingsError';
    this.refusals = refusals;
  }
}

// kafkajs is CommonJS: Node's ESM loader sees this export only through the default one
const { ConfigResourceTypes } = kafkajs;

const CONFIG_NAMES = ['cleanup.policy', 'retention.ms', 'retention.bytes', 'min.insync.replicas', 'max.message.bytes'];

/** A topic just created (here or by another process) can be listed before its partitions have leaders. */
const NOT_READY = /does not host this topic-partition|There is no leader for this topic-partition|LEADER_NOT_AVAILABLE|UNKNOWN_TOPIC_OR_PARTITION/;

async function describeExisting(admin: Admin, names: string[]): Promise<ExistingTopic[]> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await describeOnce(admin, names);
    } catch (err) {
      if (attempt >= 30 || !NOT_READY.test((err as Error).message)) throw err;
      await new Promise((r) => setTimeout(r, 200 * Math.min(attempt, 5)));
    }
  }
}

async function describeOnce(admin: Admin, names: string[]): Promise<ExistingTopic[]> {
  if (names.length === 0) return [];
  const meta = await admin.fetchTopicMetadata({ topics: names });
  const described = await admin.describeConfigs({
    includeSynonyms: false,
    resources: names.map((name) => ({ type: ConfigResourceTypes.TOPIC, name, configNames: CONFIG_NAMES })),
  });
  for (const t of meta.topics) {
    if (t.partitions.length === 0 || t.partitions.some((p) => p.leader < 0)) throw new Error(`LEADER_NOT_AVAILABLE: topic ${t.name}`);
  }
  return meta.topics.map((t) => {
    const res = described.resources.find((r) => r.resourceName === t.name);
    const configs: Record<string, string | undefined> = {};
    for (const entry of res?.configEntries ?? []) configs[entry.configName] = entry.configValue;
    return {
      name: t.name,
      partitions: t.partitions.length,
      replicationFactor: Math.min(...t.partitions.map((p) => p.replicas.length)),
      configs,
    };
  });
}

/** What a topic checked at start is: its message size limit and its partition count. */
export interface EnsuredTopic {
  maxMessageBytes: number;
  partitions: number;
}

/** Creates what is missing, checks what exists; returns each topic's max.message.bytes and partitions. */
export async function ensureTopics(options: {
  kafka: Kafka;
  wanted: WantedTopic[];
  settings: TopicSettings;
  logger: Logger;
}): Promise<Map<string, EnsuredTopic>> {
  const admin = options.kafka.admin();
  await admin.connect();
  try {
    const listed = new Set(await admin.listTopics());
    const existing = await describeExisting(admin, options.wanted.map((w) => w.name).filter((n) => listed.has(n)));
    const cluster = await admin.describeCluster();
    const plan = planTopics({ wanted: options.wanted, existing, settings: options.settings, brokerCount: cluster.brokers.length });
    for (const w of plan.warnings) options.logger.warn(w);
    if (plan.refusals.length > 0) throw new TopicSettingsError(plan.refusals);
    if (plan.create.length > 0) {
      try {
        // kafkajs' waitForLeaders gives up on the UNKNOWN_TOPIC_OR_PARTITION a KRaft broker answers
        // until the new topic's metadata has propagated: the describe below waits for leaders instead
        await admin.createTopics({
          waitForLeaders: false,
          timeout: 30_000,
          topics: plan.create.map((t) => ({
            topic: t.name,
            numPartitions: t.partitions,
            replicationFactor: t.replicationFactor,
            configEntries: Object.entries(t.configs).map(([name, value]) => ({ name, value })),
          })),
        });
      } catch (err) {
        // another process of the pipeline created them at the same moment: check what is there now
        if (!/already exists/i.test((err as Error).message)) throw err;
      }
      options.logger.info({ topics: plan.create.map((t) => ({ name: t.name, partitions: t.partitions, replicationFactor: t.replicationFactor })) }, 'Kafka topics created');
    }
    const final = await describeExisting(admin, options.wanted.map((w) => w.name));
    const missing = options.wanted.filter((w) => !final.some((e) => e.name === w.name)).map((w) => w.name);
    if (missing.length > 0) throw new Error(`Kafka topics still missing after creation: ${missing.join(', ')}`);
    if (plan.create.length > 0) {
      // a topic not yet listed (just created by someone else: metadata propagates) was "created"
      // by nobody here: what exists now is checked like any existing topic
      const now = planTopics({ wanted: options.wanted, existing: final, settings: options.settings, brokerCount: cluster.brokers.length });
      if (now.refusals.length > 0) throw new TopicSettingsError(now.refusals);
    }
    return new Map(final.map((e) => [e.name, { maxMessageBytes: Number(e.configs['max.message.bytes'] ?? String(options.settings.maxMessageBytes)), partitions: e.partitions }]));
  } finally {
    await admin.disconnect();
  }
}
