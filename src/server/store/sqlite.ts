// The Store on embedded SQLite (node:sqlite, built into Node 24: nothing to install or compile, works inside the
// single executables). One file DATA/rmagent.db in WAL mode with synchronous=FULL: a commit returns once it is in the
// write-ahead log on disk, so what the server acknowledges survives a crash or a power cut.
//
// node:sqlite answers synchronously, so every statement runs on the event loop; the Store stays async so a
// PostgreSQL engine can implement the same interface. Invariants of the lock below:
// - at most one transaction is open; a call from outside it waits until it ends, a call from inside it (same async
//   context, AsyncLocalStorage) runs in it, so a transaction can never interleave with unrelated statements;
// - every call outside a transaction is its own BEGIN IMMEDIATE ... COMMIT, so a multi-statement method is atomic;
// - topics published in a transaction reach subscribers only after its COMMIT.
import { AsyncLocalStorage } from 'node:async_hooks';
import { closeSync, openSync, statSync } from 'node:fs';
import path from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { RmError } from '../../protocol/errors.js';
import type { Logger } from '../../log.js';
import { SQLITE_MIGRATIONS, type Migration } from './migrations/sqlite/index.js';
import { createDb, type Db } from './sqlite-db.js';
import { sqliteAccounts, sqliteActivations, sqliteEnrollmentTokens, sqlitePolicies, sqliteRoles, sqliteWebhooks } from './sqlite-console.js';
import { sqliteAlerts, sqliteCommands, sqliteWebhookDeliveries } from './sqlite-events.js';
import { sqliteDevices, sqliteDeviceState, sqliteReports } from './sqlite-fleet.js';
import { sqliteLicences, sqliteLogins, sqliteSessions, sqliteVerifications } from './sqlite-sign-in.js';
import type { SyncOf } from './sqlite-sync.js';
import { sqlitePresence } from './sqlite-presence.js';
import { sqliteServerKeys } from './sqlite-keys.js';
import { lazyRepos, type Repos, type Store, type Topic, type TopicPayload, type Transaction } from './store.js';

export const SQLITE_FILE = 'rmagent.db';

type SyncRepos = { [K in keyof Repos]: SyncOf<Repos[K]> };
type Listener = (payload: unknown) => Promise<void> | void;

function syncRepos(db: Db): SyncRepos {
  return {
    presence: sqlitePresence(db),
    serverKeys: sqliteServerKeys(db),
    roles: sqliteRoles(db),
    accounts: sqliteAccounts(db),
    logins: sqliteLogins(db),
    sessions: sqliteSessions(db),
    licences: sqliteLicences(db),
    verifications: sqliteVerifications(db),
    enrollmentTokens: sqliteEnrollmentTokens(db),
    devices: sqliteDevices(db),
    deviceState: sqliteDeviceState(db),
    reports: sqliteReports(db),
    policies: sqlitePolicies(db),
    activations: sqliteActivations(db),
    alerts: sqliteAlerts(db),
    commands: sqliteCommands(db),
    webhooks: sqliteWebhooks(db),
    webhookDeliveries: sqliteWebhookDeliveries(db),
  };
}

/** Applies the migrations the database lacks, each in its own transaction; refuses a database from a newer server. */
export function migrate(db: Db, migrations: readonly Migration[], now: number): { created: boolean; schemaVersion: number } {
  db.script('CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)');
  const current = Number(db.get<{ v: number | null }>('SELECT max(version) AS v FROM schema_migrations')?.v ?? 0);
  const newest = migrations.at(-1)?.version ?? 0;
  if (current > newest) throw new RmError('SERVER_STORE_VERSION', `the database has schema version ${current}; this server knows up to ${newest}`);
  for (const m of migrations) {
    if (m.version <= current) continue;
    db.script('BEGIN IMMEDIATE');
    try {
      db.script(m.sql);
      db.run('INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)', m.version, m.name, now);
      db.script('COMMIT');
    } catch (err) {
      db.script('ROLLBACK');
      throw new RmError('SERVER_STORE_CORRUPT', `migration ${m.version} (${m.name}) failed: ${(err as Error).message}`);
    }
  }
  return { created: current === 0, schemaVersion: newest };
}

export function createSqliteStore(opts: { dataDir: string; logger: Logger; now?: () => number; file?: string }): Store {
  const file = opts.file ?? path.join(opts.dataDir, SQLITE_FILE);
  const now = opts.now ?? Date.now;
  let database: DatabaseSync | null = null;
  let db: Db | null = null;
  const context = new AsyncLocalStorage<symbol>();
  let open: { token: symbol; ended: Promise<void> } | null = null;
  const listeners = new Map<Topic, Set<Listener>>();

  const ready = (): Db => {
    if (!db) throw new RmError('INTERNAL', 'the store is not open');
    return db;
  };
  const inOpenTransaction = () => open !== null && context.getStore() === open.token;

  const deliver = async (events: ReadonlyArray<[Topic, unknown]>) => {
    for (const [topic, payload] of events) {
      const set = listeners.get(topic);
      if (!set?.size) continue;
      await Promise.all(
        [...set].map(async (listener) => {
          try {
            await listener(payload);
          } catch (err) {
            opts.logger.error('store subscriber failed', { topic, error: err });
          }
        }),
      );
    }
  };

  /** Runs fn alone, in a transaction of its own unless it is called from inside the open one. */
  async function exclusive<T>(fn: () => T): Promise<T> {
    if (inOpenTransaction()) return fn();
    while (open) await open.ended;
    const d = ready();
    d.script('BEGIN IMMEDIATE');
    try {
      const result = fn();
      d.script('COMMIT');
      return result;
    } catch (err) {
      d.script('ROLLBACK');
      throw err;
    }
  }

  const wrap = <R extends object>(repo: R): R =>
    Object.fromEntries(Object.entries(repo).map(([name, fn]) => [name, (...args: unknown[]) => exclusive(() => (fn as (...a: unknown[]) => unknown)(...args))])) as R;

  let repos: Repos | null = null;
  const reposOrThrow = (): Repos => {
    if (!repos) throw new RmError('INTERNAL', 'the store is not open');
    return repos;
  };
  const store: Store = {
    engine: 'sqlite',
    ...lazyRepos(reposOrThrow),
    async open() {
      // Created 0600 before SQLite opens it: its -wal and -shm files take the same mode.
      closeSync(openSync(file, 'a', 0o600));
      try {
        database = new DatabaseSync(file, { enableForeignKeyConstraints: true, timeout: 5_000 });
        db = createDb(database);
        db.script('PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA journal_size_limit = 67108864; PRAGMA temp_store = MEMORY');
        const check = db.get<{ quick_check: string }>('PRAGMA quick_check');
        if (check?.quick_check !== 'ok') throw new Error(`integrity check: ${check?.quick_check ?? 'no answer'}`);
      } catch (err) {
        if (err instanceof RmError) throw err;
        throw new RmError('SERVER_STORE_CORRUPT', `${file}: ${(err as Error).message}`);
      }
      const sync = syncRepos(db);
      repos = Object.fromEntries(Object.entries(sync).map(([k, r]) => [k, wrap(r)])) as unknown as Repos;
      return migrate(db, SQLITE_MIGRATIONS, now());
    },
    async transaction(fn) {
      if (inOpenTransaction()) throw new RmError('INTERNAL', 'nested store transaction');
      while (open) await open.ended;
      const d = ready();
      let end!: () => void;
      const token = Symbol('transaction');
      open = { token, ended: new Promise<void>((resolve) => (end = resolve)) };
      const events: Array<[Topic, unknown]> = [];
      const tx: Transaction = { ...reposOrThrow(), publish: (topic, payload) => void events.push([topic, payload]) };
      let result: Awaited<ReturnType<typeof fn>>;
      d.script('BEGIN IMMEDIATE');
      try {
        result = await context.run(token, () => fn(tx));
        d.script('COMMIT');
      } catch (err) {
        if (database?.isTransaction) d.script('ROLLBACK');
        throw err;
      } finally {
        open = null;
        end();
      }
      await deliver(events);
      return result;
    },
    publish: (topic, payload) => deliver([[topic, payload]]),
    subscribe<T extends Topic>(topic: T, listener: (payload: TopicPayload[T]) => Promise<void> | void) {
      const set = listeners.get(topic) ?? new Set<Listener>();
      listeners.set(topic, set);
      set.add(listener as Listener);
      return () => void set.delete(listener as Listener);
    },
    ping: () => exclusive(() => void ready().get('SELECT 1')),
    async sizeBytes() {
      let total = 0;
      for (const suffix of ['', '-wal', '-shm']) {
        try {
          total += statSync(`${file}${suffix}`).size;
        } catch {
          // not there (yet)
        }
      }
      return total;
    },
    async close() {
      while (open) await open.ended;
      if (!database) return;
      try {
        database.exec('PRAGMA wal_checkpoint(TRUNCATE)');
      } catch (err) {
        opts.logger.warn('store checkpoint at close failed', { error: err });
      }
      database.close();
      database = null;
      db = null;
      repos = null;
    },
  };
  return store;
}
