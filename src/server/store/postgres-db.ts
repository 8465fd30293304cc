// A thin async layer over a `pg` pool: the same all/get/run shape as the SQLite layer, with `?` placeholders (turned
// into $1, $2, ... once per statement text), named prepared statements, and the transaction of the current async
// context. A call made inside store.transaction runs on that transaction's connection; any other call takes a pooled
// connection for one statement, or for one BEGIN ... COMMIT when a repository method needs several (atomic()).
import { AsyncLocalStorage } from 'node:async_hooks';
import { createHash } from 'node:crypto';
import type { Pool, PoolClient } from 'pg';

export type PgParam = string | number | null | boolean | readonly string[] | readonly number[];
export type PgRow = Record<string, unknown>;

export interface PgDb {
  all<T = PgRow>(sql: string, ...params: PgParam[]): Promise<T[]>;
  get<T = PgRow>(sql: string, ...params: PgParam[]): Promise<T | undefined>;
  run(sql: string, ...params: PgParam[]): Promise<number>;
  /** Runs fn in the open transaction, or in one of its own (BEGIN ... COMMIT) when none is open. */
  atomic<T>(fn: () => Promise<T>): Promise<T>;
}

interface Prepared {
  name: string;
  text: string;
}

/** `?` placeholders to `$n` (our SQL has no `?` inside literals); the name identifies the prepared statement. */
function prepare(sql: string, cache: Map<string, Prepared>): Prepared {
  let p = cache.get(sql);
  if (!p) {
    let n = 0;
    const text = sql.replace(/\?/g, () => `$${++n}`);
    p = { name: `s${createHash('sha1').update(text).digest('hex').slice(0, 20)}`, text };
    cache.set(sql, p);
  }
  return p;
}

export interface PgContext {
  db: PgDb;
  /** Runs fn with `client` as the connection of every statement issued from its async context. */
  withClient<T>(client: PoolClient, fn: () => Promise<T>): Promise<T>;
  inTransaction(): boolean;
}

export function createPgDb(pool: Pool): PgContext {
  const cache = new Map<string, Prepared>();
  const current = new AsyncLocalStorage<PoolClient>();

  const query = async (sql: string, params: PgParam[]) => {
    const { name, text } = prepare(sql, cache);
    const values = params as unknown[];
    const client = current.getStore();
    return client ? client.query({ name, text, values }) : pool.query({ name, text, values });
  };

  const db: PgDb = {
    all: async <T>(sql: string, ...params: PgParam[]) => (await query(sql, params)).rows as T[],
    get: async <T>(sql: string, ...params: PgParam[]) => (await query(sql, params)).rows[0] as T | undefined,
    run: async (sql, ...params) => (await query(sql, params)).rowCount ?? 0,
    async atomic(fn) {
      if (current.getStore()) return fn();
      const client = await pool.connect();
      let broken: unknown = null;
      try {
        await client.query('BEGIN');
        const result = await current.run(client, fn);
        await client.query('COMMIT');
        return result;
      } catch (err) {
        await client.query('ROLLBACK').catch((rollbackErr: unknown) => (broken = rollbackErr));
        throw err;
      } finally {
        client.release(broken instanceof Error ? broken : undefined);
      }
    },
  };
  return {
    db,
    withClient: (client, fn) => current.run(client, fn),
    inTransaction: () => current.getStore() !== undefined,
  };
}

export const pgJson = (value: unknown): string => JSON.stringify(value);

