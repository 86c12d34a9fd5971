// POST /prestamos/migration/start (admin): migration objects if missing, publication and slot, the
// first-load snapshot, streaming. Idempotent: a second call reports that it had already started.
// The body, if any, must be an empty JSON object.
import type { RouteRegistrar } from '../http-app.ts';
import { mutation } from '../http-app.ts';
import { parseBody, EMPTY_BODY } from '../validation.ts';
import type { StartResult } from '../migration-starter.ts';
import { ConflictError } from '../../runtime/errors.ts';
import { SlotCreationTimeoutError } from '../../../connectors/postgres/replication-setup.ts';

export function migrationStartRoutes(start: (requestedBy: string) => Promise<StartResult>): RouteRegistrar {
  return (router, ctx) => {
    router.post(
      '/prestamos/migration/start',
      mutation(ctx, 'migration.start', [], async (req, res) => {
        parseBody(EMPTY_BODY, req.body, req.headers['content-type']);
        let result: StartResult;
        try {
          result = await start(`${req.principal!.name}#${req.principal!.tokenId}`);
        } catch (err) {
          if (err instanceof SlotCreationTimeoutError) throw new ConflictError(err.message, err.blockers.map((b) => `pid ${b.pid} in a transaction since ${b.xactStart}: ${b.query}`), 'slot_creation_blocked');
          throw err;
        }
        res.status(result.alreadyStarted ? 200 : 202);
        return {
          status: result.alreadyStarted ? 'already started' : 'started',
          slot: { name: result.pipeline.slotName, action: result.slot },
          publication: { name: result.pipeline.publication, action: result.publication },
          migrations: result.migrations.map((m) => ({ file: m.file, status: m.status })),
          snapshotRequestId: result.snapshotRequestId,
          startedAt: result.pipeline.startedAt,
          startedBy: result.pipeline.startedBy,
          next: 'GET /prestamos/migration/progress',
        };
      }),
    );
  };
}
