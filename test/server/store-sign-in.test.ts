// The console's sign-in and licence repositories on the SQLite store (engine-neutral cases), and the migration of a
// version 1 database (before the console) to version 2 keeping what it held.
import path from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { afterEach, describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/log.js';
import { SQLITE_MIGRATIONS } from '../../src/server/store/migrations/sqlite/index.js';
import { createDb } from '../../src/server/store/sqlite-db.js';
import { createSqliteStore, migrate, SQLITE_FILE } from '../../src/server/store/sqlite.js';
import type { Store } from '../../src/server/store/store.js';
import { tempDir } from './helpers.js';
import { signInStoreCases } from './store-sign-in.cases.js';

const open: Store[] = [];
afterEach(async () => {
  for (const s of open.splice(0)) await s.close();
});

signInStoreCases('SQLite', async () => {
  const store = createSqliteStore({ dataDir: await tempDir(), logger: silentLogger() });
  await store.open();
  open.push(store);
  return store;
});

describe('SQLite store: migration 2 (console sign-in)', () => {
  it('upgrades a version 1 database in place: its accounts stay, the new tables are there', async () => {
    const dir = await tempDir();
    const raw = new DatabaseSync(path.join(dir, SQLITE_FILE));
    migrate(createDb(raw), SQLITE_MIGRATIONS.slice(0, 1), 1);
    raw.exec("INSERT INTO accounts (id, name, token_hash, created_at) VALUES ('acct-old', 'old', 'h', 1)");
    raw.close();
    const store = createSqliteStore({ dataDir: dir, logger: silentLogger() });
    expect(await store.open()).toEqual({ created: false, schemaVersion: SQLITE_MIGRATIONS.at(-1)!.version });
    open.push(store);
    expect((await store.accounts.get('acct-old'))?.name).toBe('old');
    await store.logins.insert({ accountId: 'acct-old', email: 'old@example.com', passwordHash: 'h', emailVerifiedAt: null, termsAcceptedAt: null, failedAttempts: 0, lockedUntil: null, createdAt: 1 });
    expect((await store.logins.byEmail('old@example.com'))?.accountId).toBe('acct-old');
  });
});
