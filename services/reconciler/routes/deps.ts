// What the reconciler's routes need beyond the HTTP context: configuration values, the database URL
// (for migrations), the pipeline running in this process, if any, and the sync's loan writer.
import type { Request } from 'express';
import type { Config } from '../../runtime/config.ts';
import type { Logger } from '../../runtime/logger.ts';
import type { LocalPipeline } from '../../runtime/local-pipeline.ts';
import type { LoanWriter } from '../single-loan.ts';

export interface ReconcilerDeps {
  config: Config;
  databaseUrl: string;
  logger: Logger;
  pipeline: LocalPipeline | undefined;
  /** one loan's writes outside the stream (services/sync/loan-writer.ts) */
  loans: LoanWriter;
}

/** Who did it, as the audit log and the state tables record it: "<token name>#<token id>". */
export function actorOf(req: Request): string {
  return req.principal ? `${req.principal.name}#${req.principal.tokenId}` : 'anonymous';
}
