// The connection an apply statement runs on: the caller's, inside the caller's transaction.
import type pg from 'pg';

export type Client = Pick<pg.PoolClient, 'query'>;
