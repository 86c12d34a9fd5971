// The services' connection to PostgreSQL: one MikroORM instance (entities for the new tables and the
// project's state) and its `pg` pool, which the hot paths use directly for batched SQL.
import { MikroORM, type EntityManager } from '@mikro-orm/postgresql';
import type pg from 'pg';
import type { Logger } from '../../services/runtime/logger.ts';
import { ALL_ENTITIES } from '../../services/runtime/entities.ts';

export interface Database {
  orm: MikroORM;
  pool: pg.Pool;
  /** A fresh entity manager (one per unit of work). */
  em(): EntityManager;
  close(): Promise<void>;
}

export interface OpenDatabaseOptions {
  url: string;
  poolMax: number;
  applicationName: string;
  logger: Logger;
}

export async function openDatabase(options: OpenDatabaseOptions): Promise<Database> {
  const orm = await MikroORM.init({
    clientUrl: options.url,
    entities: ALL_ENTITIES,
    discovery: { warnWhenNoEntities: false },
    pool: { min: 0, max: options.poolMax },
    driverOptions: { application_name: options.applicationName },
    debug: false,
    allowGlobalContext: false,
  });
  const pool = (await orm.em.getConnection().getNativeClient()) as pg.Pool;
  pool.on('error', (err) => options.logger.warn({ err: err.message }, 'idle PostgreSQL connection failed'));
  // A connection lost while checked out between two statements (a server restart) emits 'error' on its
  // client, which pg-pool listens for only while the client is idle: without this listener that would
  // be an uncaught exception. The next query on it fails instead, and the caller's retry takes over.
  pool.on('connect', (client) => client.on('error', (err) => options.logger.warn({ err: err.message }, 'PostgreSQL connection lost')));
  return {
    orm,
    pool,
    em: () => orm.em.fork(),
    close: () => orm.close(true),
  };
}
