// kafkajs client with its logs routed to the service's logger.
import { Kafka, logLevel, type LogEntry } from 'kafkajs';
import type { Logger } from '../../services/runtime/logger.ts';
import { installRequestQueueFix } from './kafkajs-request-queue-fix.ts';

export function createKafka(options: { brokers: string[]; clientId: string; logger: Logger }): Kafka {
  installRequestQueueFix();
  const log = options.logger.child({ component: 'kafkajs' });
  return new Kafka({
    clientId: options.clientId,
    brokers: options.brokers,
    logLevel: logLevel.WARN,
    retry: { initialRetryTime: 200, retries: 8, maxRetryTime: 5000 },
    // a broker that stops answering fails a request after 15 s instead of kafkajs' 30 s default, so that
    // an outage surfaces (readiness, metrics) and the caller's own backoff takes over
    requestTimeout: 15_000,
    logCreator:
      () =>
      ({ level, log: entry }: LogEntry) => {
        const { message, ...extra } = entry;
        if (level <= logLevel.ERROR) log.error(extra, message);
        else if (level === logLevel.WARN) log.warn(extra, message);
        else log.debug(extra, message);
      },
  });
}
