// Structured logging (pino: JSON lines, cheap enough for the hot path at debug level off).
import { pino, type Logger, type DestinationStream } from 'pino';

export type { Logger };

export interface LoggerOptions {
  level: string;
  name?: string;
  destination?: DestinationStream;
}

export function createLogger(options: LoggerOptions): Logger {
  return pino(
    {
      level: options.level,
      name: options.name ?? 'prestamos-cdc',
      base: { pid: process.pid },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    options.destination ?? pino.destination({ dest: 1, sync: false }),
  );
}

/** A logger that drops everything (tests and library use without output). */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}

/**
 * A logger that appends to a file (the demo keeps the terminal for its own output). close() flushes
 * what is buffered and closes the file.
 */
export function createFileLogger(options: { level: string; name?: string; file: string }): { logger: Logger; close(): Promise<void> } {
  const destination = pino.destination({ dest: options.file, sync: false, mkdir: true, append: true });
  const logger = createLogger({ level: options.level, name: options.name, destination });
  let closed: Promise<void> | undefined;
  return {
    logger,
    close() {
      closed ??= new Promise<void>((resolve) => {
        logger.flush(() => {
          destination.once('close', () => resolve());
          destination.once('error', () => resolve());
          destination.end();
        });
      });
      return closed;
    },
  };
}
