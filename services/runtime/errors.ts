// Errors that cross module boundaries, with a stable code for logs, metrics and HTTP answers.

/** Input from outside (HTTP, Kafka, config) that fails validation. Never retried. */
export { ValidationError } from '../domain/validation-error.ts';

/** A named thing that does not exist (404 at the API). */
export class NotFoundError extends Error {
  readonly code = 'not_found';
  constructor(message: string) {
    super(message);
    this.name = 'NotFoundError';
  }
}

/** An operation refused in the current state (409 at the API), with the reasons. */
export class ConflictError extends Error {
  readonly code: string;
  readonly reasons: string[];
  constructor(message: string, reasons: string[] = [], code = 'conflict') {
    super(message);
    this.name = 'ConflictError';
    this.code = code;
    this.reasons = reasons;
  }
}

export function errorMessage(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}
