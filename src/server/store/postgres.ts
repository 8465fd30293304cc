// The Store on PostgreSQL (`pg`), selected by a postgres:// connection URL: the database several server nodes share.
// Same interface and records as the SQLite engine; its own versioned migrations (migrations/postgres/).
//
// - Connections come from a pool; a transaction holds one connection for its whole life (AsyncLocalStorage carries
//   it to every repository call made from fn), calls outside a transaction take one per statement, or one
//   BEGIN ... COMMIT when a repository method writes several statements.
// - Isolation is READ COMMITTED; rows that two nodes could race on are locked with `{ forUpdate: true }`.
// - Topics: publish() sends NOTIFY on one channel inside the transaction (PostgreSQL delivers it at COMMIT, never on
//   rollback) and hands the payload to this node's subscribers after the commit; a dedicated LISTEN connection hands
//   what other nodes published to this node's subscribers. A lost LISTEN connection reconnects and says so with the
//   `resync` event to onResync, since notifications sent while it was away are gone (PostgreSQL does not queue them).
// - Migrations run under an advisory lock, so nodes starting together migrate once.
import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { RmError } from '../../protocol/errors.js';
import type { Logger } from '../../log.js';
import { POSTGRES_MIGRATIONS } from './migrations/postgres/index.js';
import type { Migration } from './migrations/sqlite/index.js';
import { postgresAccounts, postgresActivations, postgresEnrollmentTokens, postgresPolicies, postgresRoles, postgresWebhooks } from './postgres-console.js';
import { createPgDb, type PgDb } from './postgres-db.js';
import { postgresAlerts, postgresCommands, postgresWebhookDeliveries } from './postgres-events.js';
import { postgresDevices, postgresDeviceState, postgresReports } from './postgres-fleet.js';
import { postgresLicences, postgresLogins, postgresSessions, postgresVerifications } from './postgres-sign-in.js';
import { postgresPresence } from './postgres-presence.js';
import { postgresServerKeys } from './postgres-keys.js';
import { lazyRepos, TOPICS, type Repos, type Store, type Topic, type TopicPayload, type Transaction } from './store.js';

/** The NOTIFY channel every node listens on. */
export const NOTIFY_CHANNEL = 'rmagent_events';
/** Any 64-bit number the nodes agree on: the advisory lock that serialises migrations. */
const MIGRATION_LOCK = 0x726d6167;
const RECONNECT_MS = [250, 500, 1_000, 2_000, 5_000] as const;

type Listener = (payload: unknown) => Promise<void> | void;

export const isPostgresUrl = (url: string): boolean => /^postgres(ql)?:\/\//i.test(url);

/** The URL without its password, for logs and errors. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return 'postgres://(unparseable URL)';
  }
}

function repos(db: PgDb): Repos {
  return {
    presence: postgresPresence(db),
    serverKeys: postgresServerKeys(db),
    roles: postgresRoles(db),
    accounts: postgresAccounts(db),
    logins: postgresLogins(db),
    sessions: postgresSessions(db),
    licences: postgresLicences(db),
    verifications: postgresVerifications(db),
    enrollmentTokens: postgresEnrollmentTokens(db),
    devices: postgresDevices(db),
    deviceState: postgresDeviceState(db),
    reports: postgresReports(db),
    policies: postgresPolicies(db),
    activations: postgresActivations(db),
    alerts: postgresAlerts(db),
    commands: postgresCommands(db),
    webhooks: postgresWebhooks(db),
    webhookDeliveries: postgresWebhookDeliveries(db),
  };
}

async function migrate(pool: pg.Pool, migrations: readonly Migration[], now: number): Promise<{ created: boolean; schemaVersion: number }> {
  const client = await pool.connect();
  try {
    await client.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK]);
    await client.query('CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)');
    const current = Number((await client.query<{ v: number | null }>('SELECT max(version) AS v FROM schema_migrations')).rows[0]?.v ?? 0);
    const newest = migrations.at(-1)?.version ?? 0;
    if (current > newest) throw new RmError('SERVER_STORE_VERSION', `the database has schema version ${current}; this server knows up to ${newest}`);
    for (const m of migrations) {
      if (m.version <= current) continue;
      await client.query('BEGIN');
      try {
        await client.query(m.sql);
        await client.query('INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)', [m.version, m.name, now]);
        await client.query('COMMIT');
      } catch (err) {
        await client.query('ROLLBACK');
        throw new RmError('SERVER_STORE_CORRUPT', `migration ${m.version} (${m.name}) failed: ${(err as Error).message}`);
      }
    }
    return { created: current === 0, schemaVersion: newest };
  } finally {
    await client.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK]).catch(() => undefined);
    client.release();
  }
}

export interface PostgresStoreOptions {
  url: string;
  logger: Logger;
  now?: () => number;
  /** Connections in the pool (default 10). */
  poolSize?: number;
  /** Told when the LISTEN connection came back: notifications sent meanwhile were lost, look again. */
  onResync?: () => void;
}

export function createPostgresStore(opts: PostgresStoreOptions): Store {
  const now = opts.now ?? Date.now;
  const nodeId = randomUUID();
  const listeners = new Map<Topic, Set<Listener>>();
  let pool: pg.Pool | null = null;
  let listenClient: pg.Client | null = null;
  let closing = false;
  let reconnectTimer: NodeJS.Timeout | undefined;
  let context: ReturnType<typeof createPgDb> | null = null;
  let bound: Repos | null = null;

  const ready = () => {
    if (!pool || !context || !bound) throw new RmError('INTERNAL', 'the store is not open');
    return { pool, context, repos: bound };
  };

  const deliver = async (topic: Topic, payload: unknown) => {
    const set = listeners.get(topic);
    if (!set?.size) return;
    await Promise.all(
      [...set].map(async (listener) => {
        try {
          await listener(payload);
        } catch (err) {
          opts.logger.error('store subscriber failed', { topic, error: err });
        }
      }),
    );
  };

  const message = (topic: Topic, payload: unknown) => JSON.stringify({ n: nodeId, t: topic, p: payload });

  const onNotification = (n: pg.Notification) => {
    if (n.channel !== NOTIFY_CHANNEL || !n.payload) return;
    let parsed: { n?: unknown; t?: unknown; p?: unknown };
    try {
      parsed = JSON.parse(n.payload) as typeof parsed;
    } catch {
      return opts.logger.warn('unreadable notification ignored', { channel: n.channel });
    }
    // Our own notifications were delivered here right after their commit.
    if (parsed.n === nodeId || !TOPICS.includes(parsed.t as Topic)) return;
    void deliver(parsed.t as Topic, parsed.p);
  };

  async function listen(attempt = 0): Promise<void> {
    if (closing) return;
    const client = new pg.Client({ connectionString: opts.url });
    client.on('notification', onNotification);
    client.on('error', (err) => opts.logger.warn('store LISTEN connection failed', { error: err.message }));
    client.on('end', () => {
      if (closing || listenClient !== client) return;
      listenClient = null;
      opts.logger.warn('store LISTEN connection lost; reconnecting');
      scheduleListen(0, true);
    });
    try {
      await client.connect();
      await client.query(`LISTEN ${NOTIFY_CHANNEL}`);
      listenClient = client;
    } catch (err) {
      await client.end().catch(() => undefined);
      if (attempt === 0 && !listenClient && !bound) throw err;
      opts.logger.warn('store LISTEN connection could not be opened; retrying', { error: (err as Error).message });
      scheduleListen(attempt + 1, true);
      return;
    }
  }

  function scheduleListen(attempt: number, resync: boolean): void {
    if (closing) return;
    clearTimeout(reconnectTimer);
    reconnectTimer = setTimeout(() => {
      void listen(attempt).then(() => {
        if (resync && listenClient) opts.onResync?.();
      });
    }, RECONNECT_MS[Math.min(attempt, RECONNECT_MS.length - 1)]);
    reconnectTimer.unref();
  }

  const store: Store = {
    engine: 'postgres',
    ...lazyRepos(() => ready().repos),
    async open() {
      closing = false;
      const p = new pg.Pool({ connectionString: opts.url, max: opts.poolSize ?? 10, connectionTimeoutMillis: 10_000 });
      // An idle pooled connection that dies (server restart) is dropped from the pool; the next query opens another.
      p.on('error', (err) => opts.logger.warn('store connection lost', { error: err.message }));
      try {
        const result = await migrate(p, POSTGRES_MIGRATIONS, now());
        pool = p;
        context = createPgDb(p);
        await listen();
        bound = repos(context.db);
        return result;
      } catch (err) {
        await p.end().catch(() => undefined);
        pool = null;
        if (err instanceof RmError) throw err;
        throw new RmError('SERVER_STORE_UNAVAILABLE', `${redactUrl(opts.url)}: ${(err as Error).message}`);
      }
    },
    async transaction(fn) {
      const { pool: p, context: c, repos: r } = ready();
      if (c.inTransaction()) throw new RmError('INTERNAL', 'nested store transaction');
      const client = await p.connect();
      const events: Array<[Topic, unknown]> = [];
      const tx: Transaction = { ...r, publish: (topic, payload) => void events.push([topic, payload]) };
      let broken: Error | undefined;
      let result: Awaited<ReturnType<typeof fn>>;
      try {
        await client.query('BEGIN');
        result = await c.withClient(client, async () => {
          const out = await fn(tx);
          // Inside the transaction: PostgreSQL sends them at COMMIT, and never if it rolls back.
          for (const [topic, payload] of events) await client.query('SELECT pg_notify($1, $2)', [NOTIFY_CHANNEL, message(topic, payload)]);
          return out;
        });
        await client.query('COMMIT');
      } catch (err) {
        await client.query('ROLLBACK').catch((rollbackErr: Error) => (broken = rollbackErr));
        throw err;
      } finally {
        client.release(broken);
      }
      for (const [topic, payload] of events) await deliver(topic, payload);
      return result;
    },
    async publish(topic, payload) {
      const { context: c } = ready();
      await c.db.run('SELECT pg_notify(?, ?)', NOTIFY_CHANNEL, message(topic, payload));
      await deliver(topic, payload);
    },
    subscribe<T extends Topic>(topic: T, listener: (payload: TopicPayload[T]) => Promise<void> | void) {
      const set = listeners.get(topic) ?? new Set<Listener>();
      listeners.set(topic, set);
      set.add(listener as Listener);
      return () => void set.delete(listener as Listener);
    },
    async ping() {
      await ready().context.db.get('SELECT 1');
    },
    async sizeBytes() {
      return Number((await ready().context.db.get<{ n: string }>('SELECT pg_database_size(current_database()) AS n'))!.n);
    },
    async close() {
      closing = true;
      clearTimeout(reconnectTimer);
      const [p, l] = [pool, listenClient];
      pool = null;
      listenClient = null;
      context = null;
      bound = null;
      await l?.end().catch(() => undefined);
      await p?.end().catch((err: Error) => opts.logger.warn('store pool close failed', { error: err.message }));
    },
  };
  return store;
}
