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
  return {
    orm,
    pool,
    em: () => orm.em.fork(),
    close: () => orm.close(true),
  };
}
