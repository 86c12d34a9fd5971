// Static checks of docker-compose.yml, deploy/Dockerfile and the Prometheus/Grafana files they mount,
// against the code's own configuration: the variables of services/runtime/config.ts, the commands of
// cli/commands, the topic names of the Kafka connector. There is no Docker engine where the tests run,
// so this is what keeps the stack exact. Each check returns the problems it finds (empty = fine) so
// that the tests can also show that a broken file is caught.
import { existsSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { parse as parseYaml, parseDocument } from 'yaml';
import { CONFIG_VARIABLES, loadConfig, ConfigError } from '../../services/runtime/config.ts';
import { COMMANDS } from '../../cli/commands/index.ts';
import { CAPTURED_TABLES } from '../../services/domain/change-event.ts';
import { topicFor, deadLetterTopic } from '../../connectors/kafka/envelope.ts';
import { REPO_ROOT } from './promql.ts';

export const COMPOSE_FILE = path.join(REPO_ROOT, 'docker-compose.yml');
export const DOCKERFILE = path.join(REPO_ROOT, 'deploy/Dockerfile');
export const APP_IMAGE_REPOSITORY = 'prestamos-cdc';

export interface ComposeService {
  image?: string;
  build?: { context?: string; dockerfile?: string } | string;
  command?: string[] | string;
  entrypoint?: string[] | string;
  environment?: Record<string, string | number | boolean | null> | string[];
  ports?: (string | number | { target: number; published?: string | number })[];
  volumes?: (string | { type: string; source: string; target: string })[];
  depends_on?: string[] | Record<string, { condition?: string }>;
  healthcheck?: { test?: string[] | string };
  container_name?: string;
  restart?: string;
  [key: string]: unknown;
}

export interface ComposeFile {
  name?: string;
  services: Record<string, ComposeService>;
  volumes?: Record<string, unknown>;
}

export function loadCompose(file = COMPOSE_FILE): ComposeFile {
  const doc = parseDocument(readFileSync(file, 'utf8'), { merge: true, uniqueKeys: true });
  if (doc.errors.length > 0) throw new Error(`${file}: ${doc.errors.map((e) => e.message).join('; ')}`);
  if (doc.warnings.length > 0) throw new Error(`${file}: ${doc.warnings.map((e) => e.message).join('; ')}`);
  return doc.toJS({ maxAliasCount: 100 }) as ComposeFile;
}

export const isAppService = (s: ComposeService) => (s.image ?? '').split(':')[0] === APP_IMAGE_REPOSITORY;

/** environment as a map of strings, as the process sees it */
export function envOf(s: ComposeService): Record<string, string> {
  const env = s.environment ?? {};
  if (Array.isArray(env)) {
    return Object.fromEntries(env.map((kv) => [kv.split('=')[0]!, kv.includes('=') ? kv.slice(kv.indexOf('=') + 1) : '']));
  }
  return Object.fromEntries(Object.entries(env).map(([k, v]) => [k, v === null ? '' : String(v)]));
}

function tryConfig(env: Record<string, string>): ReturnType<typeof loadConfig> | undefined {
  try {
    return loadConfig(env);
  } catch (err) {
    if (err instanceof ConfigError) return undefined;
    throw err;
  }
}

/** Compose durations: "40s", "1m30s", "500ms". */
export function durationMs(v: unknown): number | undefined {
  if (typeof v !== 'string' || !/^(\d+(h|ms|m|s|us))+$/.test(v)) return undefined;
  const unit: Record<string, number> = { h: 3_600_000, m: 60_000, s: 1000, ms: 1, us: 0.001 };
  let total = 0;
  for (const m of v.matchAll(/(\d+)(h|ms|m|s|us)/g)) total += Number(m[1]) * unit[m[2]!]!;
  return total;
}

export function argv(v: string[] | string | undefined): string[] {
  if (v === undefined) return [];
  return Array.isArray(v) ? v.map(String) : v.trim().split(/\s+/);
}

export interface PortMapping {
  hostIp: string | undefined;
  host: number | undefined;
  container: number;
  protocol: string;
}

/** "8080", "8080:8080", "127.0.0.1:8080:8080", "8080:8080/tcp"; ranges are not used here and refused. */
export function parsePort(spec: string | number | { target: number; published?: string | number }): PortMapping | string {
  if (typeof spec === 'object') return { hostIp: undefined, host: spec.published === undefined ? undefined : Number(spec.published), container: Number(spec.target), protocol: 'tcp' };
  const text = String(spec);
  const m = /^(?:(\d{1,3}(?:\.\d{1,3}){3}):)?(?:(\d+):)?(\d+)(?:\/(tcp|udp))?$/.exec(text);
  if (!m) return `malformed port mapping "${text}"`;
  const host = m[2] === undefined ? undefined : Number(m[2]);
  const container = Number(m[3]);
  for (const p of [host, container]) if (p !== undefined && (p < 1 || p > 65535)) return `port out of range in "${text}"`;
  return { hostIp: m[1], host, container, protocol: m[4] ?? 'tcp' };
}

/** image "repo[:tag][@digest]": a tag that is present and not `latest`. */
export function imageProblem(image: string | undefined): string | null {
  if (!image) return 'has no image';
  const m = /^((?:[a-z0-9.-]+(?::\d+)?\/)?[a-z0-9._/-]+)(?::([A-Za-z0-9_][A-Za-z0-9_.-]{0,127}))?(?:@sha256:[a-f0-9]{64})?$/.exec(image);
  if (!m) return `image "${image}" is not a valid reference`;
  if (!m[2]) return `image "${image}" has no tag (pin a version)`;
  if (m[2] === 'latest') return `image "${image}" uses the floating tag latest`;
  return null;
}

function dependsOn(s: ComposeService): Record<string, string> {
  const d = s.depends_on ?? {};
  if (Array.isArray(d)) return Object.fromEntries(d.map((n) => [n, 'service_started']));
  return Object.fromEntries(Object.entries(d).map(([n, v]) => [n, v?.condition ?? 'service_started']));
}

function bindMounts(s: ComposeService): { source: string; target: string; readOnly: boolean }[] {
  const out: { source: string; target: string; readOnly: boolean }[] = [];
  for (const v of s.volumes ?? []) {
    if (typeof v === 'object') {
      if (v.type === 'bind') out.push({ source: v.source, target: v.target, readOnly: false });
      continue;
    }
    const [source, target, mode] = v.split(':');
    if (source && target && (source.startsWith('.') || source.startsWith('/'))) out.push({ source, target, readOnly: mode === 'ro' });
  }
  return out;
}

function namedVolumes(s: ComposeService): string[] {
  return (s.volumes ?? []).flatMap((v) => {
    if (typeof v === 'object') return v.type === 'volume' ? [v.source] : [];
    const source = v.split(':')[0]!;
    return v.includes(':') && !source.startsWith('.') && !source.startsWith('/') ? [source] : [];
  });
}

/** The repository file a container path comes from, through the service's bind mounts. */
export function hostPathOf(s: ComposeService, containerPath: string, root = REPO_ROOT): string | undefined {
  for (const m of bindMounts(s)) {
    if (containerPath === m.target || containerPath.startsWith(m.target.replace(/\/$/, '') + '/')) {
      return path.join(root, m.source, containerPath.slice(m.target.length));
    }
  }
  return undefined;
}

function serviceByImage(compose: ComposeFile, repository: string): [string, ComposeService][] {
  return Object.entries(compose.services).filter(([, s]) => (s.image ?? '').split(':')[0] === repository);
}

/** Every problem found in a compose file (empty when it is exact). */
export function composeProblems(compose: ComposeFile, root = REPO_ROOT): string[] {
  const problems: string[] = [];
  const services = compose.services ?? {};
  const names = new Set(Object.keys(services));
  const pkg = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8')) as { version: string };
  const hostPorts = new Map<string, string>();

  for (const [name, s] of Object.entries(services)) {
    const where = `service ${name}`;
    const img = imageProblem(s.image);
    if (img) problems.push(`${where}: ${img}`);
    if (s.container_name !== undefined) problems.push(`${where}: container_name prevents scaling and clashes between projects`);
    // ports
    for (const spec of s.ports ?? []) {
      const p = parsePort(spec);
      if (typeof p === 'string') {
        problems.push(`${where}: ${p}`);
        continue;
      }
      if (p.host !== undefined) {
        const key = `${p.host}/${p.protocol}`;
        const other = hostPorts.get(key);
        if (other) problems.push(`${where}: host port ${p.host} is also published by ${other}`);
        hostPorts.set(key, name);
      }
    }
    // depends_on
    for (const [target, condition] of Object.entries(dependsOn(s))) {
      if (!names.has(target)) {
        problems.push(`${where}: depends on unknown service ${target}`);
        continue;
      }
      if (!['service_started', 'service_healthy', 'service_completed_successfully'].includes(condition)) problems.push(`${where}: unknown depends_on condition ${condition}`);
      const t = services[target]!;
      if (condition === 'service_healthy' && !t.healthcheck && !isAppService(t)) problems.push(`${where}: waits for ${target} to be healthy but ${target} has no healthcheck`);
      if (condition === 'service_completed_successfully' && t.restart !== 'no') problems.push(`${where}: waits for ${target} to complete but ${target} restarts (restart: ${t.restart ?? 'default'})`);
    }
    // bind mounts of repository files, named volumes declared
    for (const m of bindMounts(s)) {
      if (!m.source.startsWith('./')) problems.push(`${where}: bind mount ${m.source} is outside the repository`);
      else if (!existsSync(path.join(root, m.source))) problems.push(`${where}: mounts ${m.source}, which does not exist`);
      else if (!m.readOnly) problems.push(`${where}: mounts ${m.source} writable (add :ro)`);
    }
    for (const v of namedVolumes(s)) if (!(v in (compose.volumes ?? {}))) problems.push(`${where}: volume ${v} is not declared under volumes:`);
  }

  // dependency cycles
  const visiting = new Set<string>();
  const done = new Set<string>();
  const visit = (n: string, trail: string[]) => {
    if (done.has(n) || !services[n]) return;
    if (visiting.has(n)) {
      problems.push(`depends_on cycle: ${[...trail, n].join(' → ')}`);
      return;
    }
    visiting.add(n);
    for (const t of Object.keys(dependsOn(services[n]!))) visit(t, [...trail, n]);
    visiting.delete(n);
    done.add(n);
  };
  for (const n of names) visit(n, []);

  problems.push(...appServiceProblems(compose, pkg.version, root));
  problems.push(...infrastructureProblems(compose, root));
  return problems;
}

function appServiceProblems(compose: ComposeFile, version: string, root: string): string[] {
  const problems: string[] = [];
  const apps = Object.entries(compose.services).filter(([, s]) => isAppService(s));
  if (apps.length === 0) return ['no service runs the prestamos-cdc image'];
  const known = new Set(CONFIG_VARIABLES);
  const running = new Map<string, string[]>();
  for (const [name, s] of apps) {
    const where = `service ${name}`;
    if (s.image !== `${APP_IMAGE_REPOSITORY}:${version}`) problems.push(`${where}: image ${s.image} should be ${APP_IMAGE_REPOSITORY}:${version} (package.json version)`);
    const build = typeof s.build === 'string' ? { context: s.build } : s.build;
    if (!build) problems.push(`${where}: no build section (the image is built from deploy/Dockerfile)`);
    else if (path.resolve(root, build.context ?? '.', build.dockerfile ?? 'Dockerfile') !== path.join(root, 'deploy/Dockerfile')) problems.push(`${where}: builds from ${build.context}/${build.dockerfile}, not deploy/Dockerfile`);
    if (s.entrypoint !== undefined) problems.push(`${where}: overrides the image's entrypoint`);
    // environment: only the variables the code reads, with values it accepts
    const env = envOf(s);
    for (const k of Object.keys(env)) if (!known.has(k)) problems.push(`${where}: sets ${k}, which services/runtime/config.ts does not read`);
    let config: ReturnType<typeof loadConfig> | undefined;
    try {
      config = loadConfig(env);
    } catch (err) {
      if (!(err instanceof ConfigError)) throw err;
      for (const p of err.problems) problems.push(`${where}: ${p.variable}: ${p.message}`);
    }
    // command: a CLI command with options it accepts
    const [command, ...args] = argv(s.command);
    const cmd = command === undefined ? undefined : COMMANDS[command];
    if (!command) problems.push(`${where}: no command (the image's default would run \`run\`: capture, sync and API in one process)`);
    else if (!cmd) problems.push(`${where}: "${command}" is not a command of cli/commands (${Object.keys(COMMANDS).join(', ')})`);
    else {
      try {
        parseArgs({ args, options: cmd.options ?? {}, allowPositionals: cmd.positionals ?? false, strict: true });
      } catch (err) {
        problems.push(`${where}: ${command} ${args.join(' ')}: ${(err as Error).message}`);
      }
    }
    if (!config) continue;
    if (!config.databaseUrl) problems.push(`${where}: DATABASE_URL is not set`);
    const serves = command === 'capture' || command === 'sync' || command === 'reconciler' || command === 'run';
    if ((command === 'capture' || command === 'sync') && !config.kafka.brokers) problems.push(`${where}: ${command} needs KAFKA_BROKERS`);
    if (serves) {
      running.set(command!, [...(running.get(command!) ?? []), name]);
      // docker stop waits stop_grace_period (default 10 s) before SIGKILL; the CLI drains for up to
      // SHUTDOWN_TIMEOUT_MS and gives up 5 s after that
      const grace = durationMs(s.stop_grace_period);
      if (grace === undefined || grace < config.shutdownTimeoutMs + 5000) {
        problems.push(`${where}: stop_grace_period ${String(s.stop_grace_period ?? '(default 10s)')} is shorter than SHUTDOWN_TIMEOUT_MS + 5 s (${config.shutdownTimeoutMs + 5000} ms): docker stop would kill the drain`);
      }
      for (const spec of s.ports ?? []) {
        const p = parsePort(spec);
        if (typeof p !== 'string' && p.container !== config.http.port) problems.push(`${where}: publishes container port ${p.container} but listens on HTTP_PORT ${config.http.port}`);
      }
    }
    if (command === 'sync' && (s.ports ?? []).some((p) => typeof parsePort(p) !== 'string' && (parsePort(p) as PortMapping).host !== undefined)) {
      problems.push(`${where}: a fixed host port keeps the sync from scaling`);
    }
    problems.push(...connectionProblems(compose, name, config));
  }
  for (const needed of ['capture', 'sync', 'reconciler', 'migrate']) {
    if (needed === 'migrate') {
      if (!apps.some(([, s]) => argv(s.command)[0] === 'migrate')) problems.push('no service runs `migrate`');
    } else if (!running.has(needed) && !running.has('run')) problems.push(`no service runs \`${needed}\``);
  }
  // one capture per slot
  if ((running.get('capture')?.length ?? 0) > 1) problems.push('more than one capture service: a slot has one reader');
  return problems;
}

/** DATABASE_URL, KAFKA_BROKERS and SCHEMA_REGISTRY_URL point at services of the file that listen there. */
function connectionProblems(compose: ComposeFile, name: string, config: ReturnType<typeof loadConfig>): string[] {
  const problems: string[] = [];
  const where = `service ${name}`;
  const svc = compose.services;
  if (config.databaseUrl) {
    const u = new URL(config.databaseUrl);
    const pg = svc[u.hostname];
    if (!pg) problems.push(`${where}: DATABASE_URL host ${u.hostname} is not a service`);
    else {
      const env = envOf(pg);
      if ((u.port || '5432') !== '5432') problems.push(`${where}: DATABASE_URL port ${u.port} is not PostgreSQL's 5432`);
      if (decodeURIComponent(u.username) !== (env.POSTGRES_USER ?? 'postgres')) problems.push(`${where}: DATABASE_URL user ${u.username} is not POSTGRES_USER`);
      if (decodeURIComponent(u.password) !== env.POSTGRES_PASSWORD) problems.push(`${where}: DATABASE_URL password is not POSTGRES_PASSWORD`);
      if (u.pathname.slice(1) !== (env.POSTGRES_DB ?? env.POSTGRES_USER ?? 'postgres')) problems.push(`${where}: DATABASE_URL database ${u.pathname.slice(1)} is not POSTGRES_DB`);
      if (!Object.keys(dependsOn(svc[name]!)).includes(u.hostname)) problems.push(`${where}: does not depend on ${u.hostname}`);
    }
  }
  for (const broker of config.kafka.brokers ?? []) {
    const [host, port] = [broker.slice(0, broker.lastIndexOf(':')), broker.slice(broker.lastIndexOf(':') + 1)];
    const k = svc[host];
    const advertised = k ? envOf(k).KAFKA_ADVERTISED_LISTENERS ?? '' : '';
    if (!k) problems.push(`${where}: KAFKA_BROKERS host ${host} is not a service`);
    else if (!advertised.split(',').some((l) => l.trim().endsWith(`//${host}:${port}`))) problems.push(`${where}: ${broker} is not an advertised listener of ${host} (${advertised})`);
  }
  if (config.kafka.schemaRegistryUrl) {
    const u = new URL(config.kafka.schemaRegistryUrl);
    const r = svc[u.hostname];
    const listeners = r ? envOf(r).SCHEMA_REGISTRY_LISTENERS ?? '' : '';
    if (!r) problems.push(`${where}: SCHEMA_REGISTRY_URL host ${u.hostname} is not a service`);
    else if (!listeners.split(',').some((l) => new URL(l.trim()).port === (u.port || '80'))) problems.push(`${where}: the registry does not listen on port ${u.port} (${listeners})`);
  }
  return problems;
}

function infrastructureProblems(compose: ComposeFile, root: string): string[] {
  const problems: string[] = [];
  const apps = Object.values(compose.services).filter(isAppService);
  const prefix = tryConfig(envOf(apps[0] ?? {}))?.topicPrefix ?? 'junta';

  // PostgreSQL: logical decoding and the legacy schema
  const pgs = serviceByImage(compose, 'postgres');
  if (pgs.length !== 1) problems.push(`expected one postgres service, found ${pgs.length}`);
  for (const [name, s] of pgs) {
    const args = argv(s.command).join(' ');
    for (const setting of ['wal_level=logical', 'max_replication_slots=', 'max_wal_senders=', 'max_slot_wal_keep_size=']) {
      if (!args.includes(setting)) problems.push(`service ${name}: command lacks -c ${setting}`);
    }
    const init = bindMounts(s).find((m) => m.target.startsWith('/docker-entrypoint-initdb.d/'));
    if (!init || path.normalize(init.source) !== 'sql/legacy_schema.sql') problems.push(`service ${name}: sql/legacy_schema.sql is not mounted into /docker-entrypoint-initdb.d`);
    if (!s.healthcheck) problems.push(`service ${name}: no healthcheck`);
  }

  // Kafka in KRaft mode, and the topics the code uses
  const kafkas = serviceByImage(compose, 'apache/kafka').filter(([, s]) => envOf(s).KAFKA_PROCESS_ROLES !== undefined);
  if (kafkas.length !== 1) problems.push(`expected one apache/kafka broker service, found ${kafkas.length}`);
  for (const [name, s] of kafkas) {
    const env = envOf(s);
    if (!/broker/.test(env.KAFKA_PROCESS_ROLES ?? '') || !/controller/.test(env.KAFKA_PROCESS_ROLES ?? '')) problems.push(`service ${name}: not a KRaft broker+controller`);
    if (Object.keys(env).some((k) => k.includes('ZOOKEEPER'))) problems.push(`service ${name}: ZooKeeper settings in KRaft mode`);
    if (!env.KAFKA_CONTROLLER_QUORUM_VOTERS?.includes(`@${name}:`)) problems.push(`service ${name}: KAFKA_CONTROLLER_QUORUM_VOTERS does not name ${name}`);
  }
  // The product creates its topics (partitions, retention, min.insync.replicas, max.message.bytes):
  // the broker must not create them on first use, and no service may create them with other settings.
  for (const [name, s] of kafkas) {
    if (envOf(s).KAFKA_AUTO_CREATE_TOPICS_ENABLE !== 'false') problems.push(`service ${name}: KAFKA_AUTO_CREATE_TOPICS_ENABLE must be 'false': the capture and the sync create their topics with the product's settings`);
  }
  const creator = Object.entries(compose.services).find(([, s]) => /kafka-topics\.sh.*--create/.test(argv(s.command).join(' ')));
  if (creator) problems.push(`service ${creator[0]}: creates Kafka topics; the capture and the sync create ${[...CAPTURED_TABLES.map((t) => topicFor(prefix, t)), deadLetterTopic(prefix)].join(', ')} themselves`);
  for (const [name, s] of Object.entries(compose.services)) {
    const rf = envOf(s).KAFKA_REPLICATION_FACTOR;
    if (rf !== undefined && Number(rf) > kafkas.length) problems.push(`service ${name}: KAFKA_REPLICATION_FACTOR ${rf} is more than the ${kafkas.length} broker(s) of the file`);
  }

  // Schema Registry
  const registries = serviceByImage(compose, 'confluentinc/cp-schema-registry');
  if (registries.length !== 1) problems.push(`expected one confluentinc/cp-schema-registry service, found ${registries.length}`);
  for (const [name, s] of registries) {
    const bootstrap = envOf(s).SCHEMA_REGISTRY_KAFKASTORE_BOOTSTRAP_SERVERS ?? '';
    const host = /\/\/([^:]+):/.exec(bootstrap)?.[1];
    if (!host || !compose.services[host]) problems.push(`service ${name}: SCHEMA_REGISTRY_KAFKASTORE_BOOTSTRAP_SERVERS ${bootstrap} is not a service`);
  }

  problems.push(...prometheusProblems(compose, root));
  problems.push(...grafanaProblems(compose, root));
  return problems;
}

function prometheusProblems(compose: ComposeFile, root: string): string[] {
  const problems: string[] = [];
  const proms = serviceByImage(compose, 'prom/prometheus');
  if (proms.length !== 1) return [`expected one prom/prometheus service, found ${proms.length}`];
  const [name, s] = proms[0]!;
  const configArg = argv(s.command).find((a) => a.startsWith('--config.file='));
  const configPath = configArg?.slice('--config.file='.length) ?? '/etc/prometheus/prometheus.yml';
  const hostConfig = hostPathOf(s, configPath, root);
  if (!hostConfig || !existsSync(hostConfig)) return [`service ${name}: ${configPath} is not mounted from the repository`];
  const config = parseYaml(readFileSync(hostConfig, 'utf8')) as {
    rule_files?: string[];
    scrape_configs: { job_name: string; metrics_path?: string; static_configs?: { targets: string[] }[]; dns_sd_configs?: { names: string[]; type?: string; port?: number }[] }[];
  };
  for (const f of config.rule_files ?? []) if (!existsSync(path.resolve(path.dirname(hostConfig), f))) problems.push(`prometheus.yml: rule file ${f} does not exist`);
  const scraped = new Map<string, string>(); // compose service → job
  for (const job of config.scrape_configs) {
    const targets = [
      ...(job.static_configs ?? []).flatMap((c) => c.targets.map((t) => ({ host: t.slice(0, t.lastIndexOf(':')), port: Number(t.slice(t.lastIndexOf(':') + 1)) }))),
      ...(job.dns_sd_configs ?? []).flatMap((c) => c.names.map((n) => ({ host: n, port: Number(c.port) }))),
    ];
    for (const t of targets) {
      if (t.host === 'localhost' && job.job_name === 'prometheus') continue;
      const target = compose.services[t.host];
      if (!target) {
        problems.push(`prometheus.yml job ${job.job_name}: target ${t.host} is not a compose service`);
        continue;
      }
      if (!isAppService(target)) continue;
      const port = tryConfig(envOf(target))?.http.port;
      if (port !== undefined && t.port !== port) problems.push(`prometheus.yml job ${job.job_name}: scrapes ${t.host}:${t.port} but the service listens on ${port}`);
      if ((job.metrics_path ?? '/metrics') !== '/metrics') problems.push(`prometheus.yml job ${job.job_name}: metrics_path ${job.metrics_path}`);
      scraped.set(t.host, job.job_name);
    }
  }
  for (const [svcName, svc] of Object.entries(compose.services)) {
    const cmd = argv(svc.command)[0];
    if (isAppService(svc) && cmd && ['capture', 'sync', 'reconciler', 'run'].includes(cmd) && !scraped.has(svcName)) problems.push(`prometheus.yml: service ${svcName} is not scraped`);
  }
  // the job names the alert rules refer to exist
  for (const f of config.rule_files ?? []) {
    const file = path.resolve(path.dirname(hostConfig), f);
    if (!existsSync(file)) continue;
    const jobs = new Set(config.scrape_configs.map((j) => j.job_name));
    for (const m of readFileSync(file, 'utf8').matchAll(/job="([^"]+)"/g)) if (!jobs.has(m[1]!)) problems.push(`${f}: refers to job ${m[1]}, which prometheus.yml does not scrape`);
    for (const m of readFileSync(file, 'utf8').matchAll(/job=~"([^"]+)"/g)) {
      const re = new RegExp(`^(?:${m[1]})$`);
      if (![...jobs].some((j) => re.test(j))) problems.push(`${f}: job=~"${m[1]}" matches no scrape job`);
    }
  }
  return problems;
}

function grafanaProblems(compose: ComposeFile, root: string): string[] {
  const problems: string[] = [];
  const grafanas = serviceByImage(compose, 'grafana/grafana');
  if (grafanas.length !== 1) return [`expected one grafana/grafana service, found ${grafanas.length}`];
  const [name, s] = grafanas[0]!;
  const provisioning = hostPathOf(s, '/etc/grafana/provisioning', root);
  if (!provisioning || !existsSync(provisioning)) return [`service ${name}: /etc/grafana/provisioning is not mounted from the repository`];
  const datasources = parseYaml(readFileSync(path.join(provisioning, 'datasources/prometheus.yml'), 'utf8')) as { datasources: { type: string; url: string }[] };
  for (const ds of datasources.datasources.filter((d) => d.type === 'prometheus')) {
    const u = new URL(ds.url);
    const prom = compose.services[u.hostname];
    if (!prom || !(prom.image ?? '').startsWith('prom/prometheus:')) problems.push(`grafana datasource url ${ds.url}: ${u.hostname} is not the prometheus service`);
    else if (u.port !== '9090') problems.push(`grafana datasource url ${ds.url}: Prometheus listens on 9090`);
  }
  const dashboards = parseYaml(readFileSync(path.join(provisioning, 'dashboards/prestamos-cdc.yml'), 'utf8')) as { providers: { type: string; options: { path: string } }[] };
  for (const p of dashboards.providers) {
    const host = hostPathOf(s, p.options.path, root);
    if (!host || !existsSync(host) || !statSync(host).isDirectory()) problems.push(`grafana dashboard provider path ${p.options.path} is not mounted from the repository`);
    else if (!existsSync(path.join(host, 'prestamos-cdc.json'))) problems.push(`grafana dashboard provider path ${p.options.path} has no prestamos-cdc.json`);
  }
  const home = envOf(s).GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH;
  if (home) {
    const host = hostPathOf(s, home, root);
    if (!host || !existsSync(host)) problems.push(`service ${name}: GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH ${home} is not a mounted file`);
  }
  return problems;
}

// ---- Dockerfile -----------------------------------------------------------------------------------------

export interface DockerfileStage {
  from: string;
  name: string | undefined;
  instructions: { op: string; args: string }[];
}

/** Instructions by stage (continuation lines joined, comments dropped). */
export function parseDockerfile(text: string): DockerfileStage[] {
  const lines = text.replace(/\\\r?\n/g, ' ').split(/\r?\n/).map((l) => l.trim()).filter((l) => l && !l.startsWith('#'));
  const stages: DockerfileStage[] = [];
  for (const line of lines) {
    const m = /^(\w+)\s+(.*)$/.exec(line);
    if (!m) continue;
    const op = m[1]!.toUpperCase();
    const args = m[2]!.trim();
    if (op === 'FROM') {
      const f = /^(?:--\S+\s+)*(\S+)(?:\s+AS\s+(\S+))?$/i.exec(args);
      stages.push({ from: f?.[1] ?? args, name: f?.[2], instructions: [] });
    } else if (stages.length > 0) stages[stages.length - 1]!.instructions.push({ op, args });
  }
  return stages;
}

/** Relative modules reachable from an entry file, and the packages they import. */
export function runtimeImports(entry: string, root = REPO_ROOT): { files: string[]; packages: string[] } {
  const files = new Set<string>();
  const packages = new Set<string>();
  const queue = [path.resolve(root, entry)];
  while (queue.length > 0) {
    const file = queue.pop()!;
    if (files.has(file)) continue;
    files.add(file);
    const text = readFileSync(file, 'utf8');
    // static and dynamic imports, type-only imports excluded (erased at run time)
    for (const m of text.matchAll(/^\s*(?:import|export)\s+(?!type\s)(?:[^'";]*?\sfrom\s+)?['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)/gm)) {
      const spec = (m[1] ?? m[2])!;
      if (spec.startsWith('.')) queue.push(path.resolve(path.dirname(file), spec));
      else if (!spec.startsWith('node:')) packages.add(spec.startsWith('@') ? spec.split('/').slice(0, 2).join('/') : spec.split('/')[0]!);
    }
  }
  return { files: [...files].map((f) => path.relative(root, f)).sort(), packages: [...packages].sort() };
}

export function dockerfileProblems(text: string, root = REPO_ROOT): string[] {
  const problems: string[] = [];
  const stages = parseDockerfile(text);
  if (stages.length < 2) problems.push(`not multi-stage: ${stages.length} stage(s)`);
  for (const st of stages) {
    if (stages.some((o) => o.name === st.from)) continue; // FROM an earlier stage
    const img = imageProblem(st.from);
    if (img) problems.push(`FROM ${st.from}: ${img}`);
  }
  const runtime = stages[stages.length - 1];
  if (!runtime) return problems;
  const ops = (op: string) => runtime.instructions.filter((i) => i.op === op);
  const user = ops('USER').at(-1)?.args;
  if (!user) problems.push('the runtime stage has no USER: it would run as root');
  else if (/^(root|0)(:|$)/.test(user)) problems.push(`the runtime stage runs as ${user}`);
  const json = (args: string | undefined): unknown => {
    try {
      return args === undefined ? undefined : JSON.parse(args);
    } catch {
      return args;
    }
  };
  const entrypoint = json(ops('ENTRYPOINT').at(-1)?.args);
  if (JSON.stringify(entrypoint) !== JSON.stringify(['node', 'cli/main.ts'])) problems.push(`ENTRYPOINT is ${JSON.stringify(entrypoint)}`);
  const cmd = json(ops('CMD').at(-1)?.args);
  if (!Array.isArray(cmd) || !COMMANDS[String(cmd[0])]) problems.push(`CMD ${JSON.stringify(cmd)} is not a command of the CLI`);
  const health = ops('HEALTHCHECK').at(-1)?.args ?? '';
  if (!health.includes('/healthz')) problems.push('no HEALTHCHECK on /healthz');
  const port = loadConfig({}).http.port;
  if (!ops('EXPOSE').some((e) => e.args.split(/\s+/).includes(String(port)))) problems.push(`does not EXPOSE the default HTTP_PORT ${port}`);
  // dependencies: npm ci without dev dependencies in a build stage, node_modules copied from it
  const install = stages.slice(0, -1).flatMap((s) => s.instructions).find((i) => i.op === 'RUN' && /\bnpm ci\b/.test(i.args));
  if (!install) problems.push('no build stage runs npm ci');
  else if (!/--omit=dev/.test(install.args)) problems.push('npm ci installs dev dependencies');
  if (!ops('COPY').some((c) => /--from=\S+/.test(c.args) && /node_modules/.test(c.args))) problems.push('the runtime stage does not copy node_modules from the build stage');
  // every file the CLI loads at run time is copied, and every package it imports is a dependency
  const copied = ops('COPY')
    .filter((c) => !/--from=/.test(c.args))
    .flatMap((c) => {
      const parts = c.args.split(/\s+/).filter((p) => !p.startsWith('--'));
      return parts.slice(0, -1);
    });
  for (const src of copied) if (!existsSync(path.join(root, src))) problems.push(`COPY ${src}: no such file in the repository`);
  const { files, packages } = runtimeImports('cli/main.ts', root);
  const needed = new Set([...files.map((f) => f.split(path.sep)[0]!), 'sql', 'package.json']);
  for (const n of needed) if (!copied.includes(n)) problems.push(`the runtime stage does not copy ${n}, which the CLI needs`);
  const pkg = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8')) as { dependencies: Record<string, string> };
  for (const p of packages) if (!(p in pkg.dependencies)) problems.push(`the CLI imports ${p}, which is not a production dependency (npm ci --omit=dev leaves it out)`);
  return problems;
}

/** Paths a `**`-then-`!allow` ignore file lets into the build context. */
export function dockerignoreProblems(ignoreText: string, dockerfileText: string): string[] {
  const rules = ignoreText.split(/\r?\n/).map((l) => l.trim()).filter((l) => l && !l.startsWith('#'));
  const allowed = rules.filter((r) => r.startsWith('!')).map((r) => r.slice(1).replace(/\/\*\*$/, ''));
  const excludesAll = rules.includes('**') || rules.includes('*');
  const problems: string[] = [];
  if (!excludesAll) return problems; // nothing excluded wholesale: every path is in the context
  for (const st of parseDockerfile(dockerfileText)) {
    for (const c of st.instructions.filter((i) => i.op === 'COPY' && !/--from=/.test(i.args))) {
      for (const src of c.args.split(/\s+/).filter((p) => !p.startsWith('--')).slice(0, -1)) {
        if (!allowed.includes(src)) problems.push(`COPY ${src}: excluded from the build context by the ignore file`);
      }
    }
  }
  return problems;
}
