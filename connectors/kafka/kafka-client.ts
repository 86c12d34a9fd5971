// kafkajs client with its logs routed to the service's logger.
import { Kafka, logLevel, type LogEntry } from 'kafkajs';
import type { Logger } from '../../services/runtime/logger.ts';

export function createKafka(options: { brokers: string[]; clientId: string; logger: Logger }): Kafka {
  const log = options.logger.child({ component: 'kafkajs' });
  return new Kafka({
    clientId: options.clientId,
    brokers: options.brokers,
    logLevel: logLevel.WARN,
    retry: { initialRetryTime: 200, retries: 8, maxRetryTime: 5000 },
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
