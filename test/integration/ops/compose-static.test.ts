// docker-compose.yml and deploy/Dockerfile cannot be run here (no Docker engine): they are checked
// statically against the code — images pinned, every variable one that services/runtime/config.ts reads
// with a value it accepts, every command one the CLI has, ports well-formed and unique on the host,
// dependencies and mounted files present, Prometheus scraping the services where they listen, Grafana
// provisioned from the repository, topics named as the Kafka connector names them. Every check is also
// shown to catch a broken file.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  DOCKERFILE,
  loadCompose,
  composeProblems,
  dockerfileProblems,
  dockerignoreProblems,
  parsePort,
  imageProblem,
  runtimeImports,
  type ComposeFile,
} from '../../support/compose-check.ts';
import { REPO_ROOT } from '../../support/promql.ts';

const compose = loadCompose();
const dockerfile = readFileSync(DOCKERFILE, 'utf8');
const dockerignore = readFileSync(path.join(REPO_ROOT, 'deploy/Dockerfile.dockerignore'), 'utf8');

function mutated(change: (c: ComposeFile) => void): string[] {
  const copy = structuredClone(compose);
  change(copy);
  return composeProblems(copy);
}

describe('docker-compose.yml', () => {
  it('parses (anchors and merge keys resolved) and has the whole stack', () => {
    expect(compose.name).toBe('prestamos-cdc');
    const images = Object.values(compose.services).map((s) => (s.image ?? '').split(':')[0]);
    for (const repo of ['postgres', 'apache/kafka', 'confluentinc/cp-schema-registry', 'prestamos-cdc', 'prom/prometheus', 'grafana/grafana']) {
      expect(images, repo).toContain(repo);
    }
    const commands = Object.values(compose.services).map((s) => (Array.isArray(s.command) ? s.command[0] : undefined));
    for (const c of ['migrate', 'capture', 'sync', 'reconciler']) expect(commands).toContain(c);
    // the merge key gave every app service the shared settings
    expect(compose.services.sync!.environment).toMatchObject({ DATABASE_URL: expect.any(String), KAFKA_BROKERS: 'kafka:9092', KAFKA_CLIENT_ID: 'prestamos-cdc-sync' });
  });

  it('is exact: no problem found by the static checks', () => {
    expect(composeProblems(compose)).toEqual([]);
  });

  it('catches a variable the code does not read, and a value it refuses', () => {
    expect(mutated((c) => ((c.services.capture!.environment as Record<string, string>).KAFKA_BROKER = 'kafka:9092'))).toContain(
      'service capture: sets KAFKA_BROKER, which services/runtime/config.ts does not read',
    );
    expect(mutated((c) => ((c.services.sync!.environment as Record<string, string>).APPLY_BATCH_SIZE = 'lots'))).toEqual(
      expect.arrayContaining([expect.stringMatching(/^service sync: APPLY_BATCH_SIZE: /)]),
    );
  });

  it('catches a command the CLI does not have, and an option it refuses', () => {
    expect(mutated((c) => (c.services.sync!.command = ['consume']))).toEqual(expect.arrayContaining([expect.stringContaining('"consume" is not a command of cli/commands')]));
    expect(mutated((c) => (c.services.migrate!.command = ['migrate', '--legacy']))).toEqual(expect.arrayContaining([expect.stringMatching(/^service migrate: migrate --legacy: /)]));
  });

  it('catches floating images, clashing or malformed ports, a fixed port on the scalable sync', () => {
    expect(mutated((c) => (c.services.grafana!.image = 'grafana/grafana:latest'))).toContain('service grafana: image "grafana/grafana:latest" uses the floating tag latest');
    expect(mutated((c) => (c.services.postgres!.image = 'postgres'))).toContain('service postgres: image "postgres" has no tag (pin a version)');
    expect(mutated((c) => (c.services.grafana!.ports = ['8080:3000']))).toContain('service grafana: host port 8080 is also published by reconciler');
    expect(mutated((c) => (c.services.grafana!.ports = ['3000:3000:3000']))).toContain('service grafana: malformed port mapping "3000:3000:3000"');
    expect(mutated((c) => (c.services.sync!.ports = ['8082:8080']))).toContain('service sync: a fixed host port keeps the sync from scaling');
    expect(mutated((c) => (c.services.sync!.container_name = 'sync'))).toContain('service sync: container_name prevents scaling and clashes between projects');
  });

  it('catches dependencies on missing services, missing mounted files, wrong topics, wrong addresses', () => {
    expect(mutated((c) => ((c.services.capture!.depends_on as Record<string, unknown>).zookeeper = { condition: 'service_started' }))).toContain('service capture: depends on unknown service zookeeper');
    expect(mutated((c) => (c.services.postgres!.volumes = ['postgres-data:/var/lib/postgresql/data', './sql/legacy.sql:/docker-entrypoint-initdb.d/001.sql:ro']))).toContain(
      'service postgres: mounts ./sql/legacy.sql, which does not exist',
    );
    expect(mutated((c) => ((c.services.kafka!.environment as Record<string, string>).KAFKA_AUTO_CREATE_TOPICS_ENABLE = 'true'))).toContain(
      "service kafka: KAFKA_AUTO_CREATE_TOPICS_ENABLE must be 'false': the capture and the sync create their topics with the product's settings",
    );
    expect(mutated((c) => ((c.services.sync!.environment as Record<string, string>).KAFKA_REPLICATION_FACTOR = '3'))).toContain(
      'service sync: KAFKA_REPLICATION_FACTOR 3 is more than the 1 broker(s) of the file',
    );
    expect(mutated((c) => ((c.services.sync!.environment as Record<string, string>).DATABASE_URL = 'postgres://junta:junta@db:5432/junta'))).toContain('service sync: DATABASE_URL host db is not a service');
    expect(mutated((c) => ((c.services.sync!.environment as Record<string, string>).KAFKA_BROKERS = 'kafka:9094'))).toEqual(
      expect.arrayContaining([expect.stringContaining('service sync: kafka:9094 is not an advertised listener of kafka')]),
    );
  });

  it('catches a stop grace period that would kill the drain', () => {
    expect(mutated((c) => delete c.services.sync!.stop_grace_period)).toContain(
      'service sync: stop_grace_period (default 10s) is shorter than SHUTDOWN_TIMEOUT_MS + 5 s (35000 ms): docker stop would kill the drain',
    );
    expect(mutated((c) => ((c.services.capture!.environment as Record<string, string>).SHUTDOWN_TIMEOUT_MS = '60000'))).toContain(
      'service capture: stop_grace_period 40s is shorter than SHUTDOWN_TIMEOUT_MS + 5 s (65000 ms): docker stop would kill the drain',
    );
  });

  it('catches Prometheus scraping a port the service does not listen on', () => {
    expect(mutated((c) => ((c.services.sync!.environment as Record<string, string>).HTTP_PORT = '9000'))).toContain(
      'prometheus.yml job prestamos-cdc-sync: scrapes sync:8080 but the service listens on 9000',
    );
  });

  it('parses port mappings and image references strictly', () => {
    expect(parsePort('127.0.0.1:5432:5432')).toEqual({ hostIp: '127.0.0.1', host: 5432, container: 5432, protocol: 'tcp' });
    expect(parsePort('8080')).toEqual({ hostIp: undefined, host: undefined, container: 8080, protocol: 'tcp' });
    expect(parsePort('70000:80')).toBe('port out of range in "70000:80"');
    expect(imageProblem('apache/kafka:4.1.1')).toBeNull();
    expect(imageProblem('ghcr.io/org/img:1.2@sha256:' + 'a'.repeat(64))).toBeNull();
    expect(imageProblem('Apache/Kafka:3')).toMatch(/not a valid reference/);
  });
});

describe('deploy/Dockerfile', () => {
  it('is multi-stage, runs as a non-root user, copies what the CLI loads and installs only production dependencies', () => {
    expect(dockerfileProblems(dockerfile)).toEqual([]);
    expect(dockerignoreProblems(dockerignore, dockerfile)).toEqual([]);
  });

  it('knows what the CLI loads at run time', () => {
    const { files, packages } = runtimeImports('cli/main.ts');
    expect(files).toEqual(expect.arrayContaining(['cli/main.ts', 'services/orchestrator/process-runner.ts', 'connectors/postgres/migrator.ts']));
    expect(packages).toEqual(expect.arrayContaining(['express', 'kafkajs', 'pg', 'prom-client', 'zod']));
    expect(packages).not.toContain('vitest');
  });

  it('catches a root user, a missing stage, a missing copy, dev dependencies', () => {
    expect(dockerfileProblems(dockerfile.replace(/^USER node$/m, ''))).toContain('the runtime stage has no USER: it would run as root');
    expect(dockerfileProblems(dockerfile.replace(/^USER node$/m, 'USER root'))).toContain('the runtime stage runs as root');
    expect(dockerfileProblems(dockerfile.replace(/^COPY --chown=root:root connectors \.\/connectors$/m, ''))).toContain('the runtime stage does not copy connectors, which the CLI needs');
    expect(dockerfileProblems(dockerfile.replace('--omit=dev ', ''))).toContain('npm ci installs dev dependencies');
    expect(dockerfileProblems(dockerfile.replace(/^FROM node:24-bookworm-slim AS deps$[\s\S]*?(?=^FROM )/m, ''))).toContain('not multi-stage: 1 stage(s)');
    expect(dockerfileProblems(dockerfile.replace('FROM node:24-bookworm-slim AS runtime', 'FROM node AS runtime'))).toContain('FROM node: image "node" has no tag (pin a version)');
    expect(dockerfileProblems(dockerfile.replace('CMD ["run"]', 'CMD ["serve"]'))).toContain('CMD ["serve"] is not a command of the CLI');
    expect(dockerignoreProblems(dockerignore.replace('!sql/**\n', ''), dockerfile)).toContain('COPY sql: excluded from the build context by the ignore file');
  });
});
