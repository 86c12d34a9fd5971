// Input from outside (HTTP, Kafka, config, a legacy row) that fails validation. Never retried. It lives
// with the domain rules, which raise it, so that the domain imports nothing else of the project;
// services/runtime/errors.ts re-exports it beside the other cross-module errors.
export class ValidationError extends Error {
  readonly code: string;
  readonly details: unknown;
  constructor(message: string, code = 'invalid_input', details?: unknown) {
    super(message);
    this.name = 'ValidationError';
    this.code = code;
    this.details = details;
  }
}
