// The Store contract, run against both engines: SQLite on real files and PostgreSQL in a cluster this file starts
// (Debian's postgresql; skipped, saying why, where it is not installed). Migrations, transactions and their
// isolation, notifications after commit, the report bounds, pagination, device revocation, and what the command
// queue relies on; then what only one engine has (SQLite's file, PostgreSQL's sharing between nodes).
import { statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/log.js';
import { encodeCursor } from '../../src/server/store/cursor.js';
import { POSTGRES_MIGRATIONS } from '../../src/server/store/migrations/postgres/index.js';
import { SQLITE_MIGRATIONS } from '../../src/server/store/migrations/sqlite/index.js';
import { createPostgresStore } from '../../src/server/store/postgres.js';
import { createSqliteStore, SQLITE_FILE } from '../../src/server/store/sqlite.js';
import type { CommandRecord, DeviceRecord, Store } from '../../src/server/store/store.js';
import { sampleFacts, tempDir } from './helpers.js';
import { findPostgres, startPgCluster, type PgCluster } from './pg-cluster.js';
import { signInStoreCases } from './store-sign-in.cases.js';

const postgres = await findPostgres();
const pgMissing = 'missing' in postgres ? postgres.missing : null;
let cluster: PgCluster | null = null;
beforeAll(async () => {
  if (!('missing' in postgres)) cluster = await startPgCluster(postgres);
}, 60_000);
afterAll(async () => {
  await cluster?.stop();
});

const open: Store[] = [];
afterEach(async () => {
  for (const s of open.splice(0)) await s.close();
});

async function sqliteIn(dir?: string): Promise<Store> {
  const store = createSqliteStore({ dataDir: dir ?? (await tempDir()), logger: silentLogger() });
  await store.open();
  open.push(store);
  return store;
}

/** A PostgreSQL store on a fresh database (or on `url`: another node sharing it). */
async function postgresOn(url?: string): Promise<Store> {
  const store = createPostgresStore({ url: url ?? (await cluster!.createDatabase()), logger: silentLogger() });
  await store.open();
  open.push(store);
  return store;
}

const ENGINES = [
  { engine: 'SQLite', skip: null, make: () => sqliteIn() },
  { engine: 'PostgreSQL', skip: pgMissing, make: () => postgresOn() },
] as const;
if (pgMissing) console.warn(`PostgreSQL store tests skipped: ${pgMissing}`);

// The console's sign-in and licence cases (store-sign-in.cases.ts; SQLite runs them in store-sign-in.test.ts).
if (!pgMissing) signInStoreCases('PostgreSQL', () => postgresOn());

function device(id: string, overrides: Partial<DeviceRecord> = {}): DeviceRecord {
  return { id, publicKey: 'k', facts: sampleFacts(id), enrolledAt: 1, enrolledWith: null, lastSeen: null, lastSeq: 0, revision: 1, tags: [], revokedAt: null, revokedBy: null, ...overrides };
}

function command(id: string, deviceId: string, type = 'status.request', status: CommandRecord['status'] = 'queued', createdAt = 1): CommandRecord {
  return { id, deviceId, type, body: { deviceId }, actor: null, createdAt, status, reason: null, updatedAt: createdAt, attempts: 0 };
}

describe('SQLite store: files and migrations', () => {
  it('creates one private database file, migrates once, and opens it again at the same version', async () => {
    const dir = await tempDir();
    const first = createSqliteStore({ dataDir: dir, logger: silentLogger() });
    expect(await first.open()).toEqual({ created: true, schemaVersion: SQLITE_MIGRATIONS.at(-1)!.version });
    await first.devices.insert(device('dev-a'));
    await first.close();
    expect(statSync(path.join(dir, SQLITE_FILE)).mode & 0o777).toBe(0o600);
    const again = await sqliteIn(dir);
    expect((await again.devices.get('dev-a'))?.facts.hostname).toBe('dev-a');
  });

  it('refuses a database written by a newer server instead of guessing', async () => {
    const dir = await tempDir();
    const store = await sqliteIn(dir);
    await store.close();
    open.length = 0;
    const raw = new DatabaseSync(path.join(dir, SQLITE_FILE));
    raw.exec("INSERT INTO schema_migrations (version, name, applied_at) VALUES (99, 'future', 0)");
    raw.close();
    await expect(createSqliteStore({ dataDir: dir, logger: silentLogger() }).open()).rejects.toMatchObject({ code: 'SERVER_STORE_VERSION' });
  });

  it('refuses a file that is not a database (SERVER_STORE_CORRUPT), never starting empty over it', async () => {
    const dir = await tempDir();
    writeFileSync(path.join(dir, SQLITE_FILE), 'this is not sqlite'.repeat(100));
    await expect(createSqliteStore({ dataDir: dir, logger: silentLogger() }).open()).rejects.toMatchObject({ code: 'SERVER_STORE_CORRUPT', message: expect.stringContaining(SQLITE_FILE) });
  });
});

describe.each(ENGINES)('$engine store contract', ({ skip, make }) => {
  describe.skipIf(skip)('transactions', () => {
    it('a failed transaction leaves nothing behind and publishes nothing', async () => {
      const store = await make();
      const heard: string[] = [];
      store.subscribe('command', ({ deviceId }) => void heard.push(deviceId));
      await expect(
        store.transaction(async (tx) => {
          await tx.devices.insert(device('dev-a'));
          tx.publish('command', { deviceId: 'dev-a' });
          throw new Error('boom');
        }),
      ).rejects.toThrow('boom');
      expect(await store.devices.get('dev-a')).toBeNull();
      expect(heard).toEqual([]);
      await store.transaction(async (tx) => {
        await tx.devices.insert(device('dev-b'));
        tx.publish('command', { deviceId: 'dev-b' });
        expect(heard).toEqual([]); // not before the commit
      });
      expect(heard).toEqual(['dev-b']);
    });

    it('a call from outside is not part of the open transaction and does not see it', async () => {
      const store = await make();
      let release!: () => void;
      const gate = new Promise<void>((r) => (release = r));
      const tx = store.transaction(async (t) => {
        await t.devices.insert(device('dev-a'));
        await gate;
        throw new Error('rolled back');
      });
      await new Promise((r) => setTimeout(r, 10));
      // Issued while the transaction is open: it must not become part of it (and be rolled back with it).
      const outside = store.devices.insert(device('dev-b'));
      const seen = store.devices.get('dev-a');
      release();
      await expect(tx).rejects.toThrow('rolled back');
      await outside;
      expect(await seen).toBeNull();
      expect(await store.devices.get('dev-b')).not.toBeNull();
      expect(await store.devices.get('dev-a')).toBeNull();
    });
  });

  describe.skipIf(skip)('report bounds', () => {
    const report = (seq: number, kind: 'inventory' | 'status', bytes: number) => ({ deviceId: 'dev-a', seq, kind, at: seq, receivedAt: seq, bytes, data: { pad: 'x'.repeat(bytes) }, invalid: null });

    it('keeps at most bytesPerKind per kind and bytesPerDevice per device, oldest first, never the newest', async () => {
      const store = await make();
      await store.devices.insert(device('dev-a'));
      const limits = { bytesPerKind: 10_000, bytesPerDevice: 15_000 };
      for (let seq = 1; seq <= 40; seq++) await store.reports.append(report(seq, seq % 2 ? 'inventory' : 'status', 1_000), limits);
      const usage = await store.reports.usage('dev-a');
      const total = usage.reduce((n, u) => n + u.bytes, 0);
      expect(total).toBeLessThanOrEqual(15_000);
      for (const u of usage) expect(u.bytes).toBeLessThanOrEqual(10_000);
      const kept = await store.reports.list('dev-a', { kinds: null, after: 0, limit: 500 });
      expect(kept.at(-1)!.seq).toBe(40);
      expect(kept.map((r) => r.seq)).toEqual([...kept.map((r) => r.seq)].sort((a, b) => a - b));
      // Usage matches what is really there (the running totals never drift).
      expect(kept.reduce((n, r) => n + r.bytes, 0)).toBe(total);
      // One report larger than the budget is still kept (the newest of its kind).
      await store.reports.append(report(41, 'inventory', 12_000), limits);
      expect((await store.reports.list('dev-a', { kinds: ['inventory'], after: 0, limit: 10 })).map((r) => r.seq)).toEqual([41]);
    });

    it('retention removes old reports and keeps the running totals right', async () => {
      const store = await make();
      await store.devices.insert(device('dev-a'));
      const limits = { bytesPerKind: 1e9, bytesPerDevice: 1e9 };
      for (let seq = 1; seq <= 10; seq++) await store.reports.append(report(seq, 'status', 100), limits);
      expect(await store.reports.pruneBefore(6)).toBe(5);
      expect(await store.reports.usage('dev-a')).toEqual([{ kind: 'status', reports: 5, bytes: 500 }]);
    });
  });

  describe.skipIf(skip)('presence', () => {
    const node = (id: string) => ({ id, startedAt: 1, beatAt: 1, info: { host: 'h', pid: 1, listen: `${id}:1` } });
    it("a device is online while a live node holds it; another node takes it over; a dead node's devices expire", async () => {
      const store = await make();
      expect(await store.presence.beat(node('node-a'), 100)).toBe(false);
      expect(await store.presence.beat(node('node-a'), 100)).toBe(true);
      await store.presence.beat(node('node-b'), 100);
      await store.presence.update('node-a', { connected: ['dev-1', 'dev-2'], disconnected: [] }, 100);
      // The device reconnected to node B; node A's late close must not undo that.
      await store.presence.update('node-b', { connected: ['dev-2'], disconnected: [] }, 101);
      await store.presence.update('node-a', { connected: [], disconnected: ['dev-2'] }, 102);
      const sorted = (rows: Array<{ deviceId: string; nodeId: string }>) => [...rows].sort((x, y) => x.deviceId.localeCompare(y.deviceId));
      expect(sorted(await store.presence.online(50, null))).toEqual([{ deviceId: 'dev-1', nodeId: 'node-a' }, { deviceId: 'dev-2', nodeId: 'node-b' }]);
      expect(await store.presence.online(50, 'node-b')).toEqual([{ deviceId: 'dev-1', nodeId: 'node-a' }]);
      // Node A stops beating: its device is offline for everyone once the TTL passed, and the first to look removes it.
      await store.presence.beat(node('node-b'), 200);
      expect(await store.presence.online(150, null)).toEqual([{ deviceId: 'dev-2', nodeId: 'node-b' }]);
      expect(await store.presence.expire(150)).toBe(1);
      expect((await store.presence.nodes()).map((n) => n.id)).toEqual(['node-b']);
      // Expired meanwhile: its next beat says so (the node then writes its whole set again).
      expect(await store.presence.beat(node('node-a'), 300)).toBe(false);
      await store.presence.leave('node-b');
      expect(await store.presence.online(0, null)).toEqual([]);
    });
  });

  describe.skipIf(skip)('lists and life cycle', () => {
    it('pages devices in name order with a cursor, filters by tag and name, and refuses a forged cursor', async () => {
      const store = await make();
      for (let i = 0; i < 25; i++) await store.devices.insert(device(`dev-${String(i).padStart(2, '0')}`, { tags: i % 5 === 0 ? ['finance', 'laptops'] : ['laptops'] }));
      const seen: string[] = [];
      let cursor: string | null = null;
      for (let i = 0; i < 10; i++) {
        const page: Awaited<ReturnType<Store['devices']['list']>> = await store.devices.list({}, { limit: 7, cursor });
        seen.push(...page.items.map((d) => d.id));
        cursor = page.next;
        if (!cursor) break;
      }
      expect(seen).toHaveLength(25);
      expect(new Set(seen).size).toBe(25);
      expect((await store.devices.list({ tags: ['finance', 'laptops'] }, { limit: 100, cursor: null })).items).toHaveLength(5);
      expect((await store.devices.list({ search: 'DEV-1' }, { limit: 100, cursor: null })).items.map((d) => d.id)).toEqual(Array.from({ length: 10 }, (_, i) => `dev-1${i}`));
      await expect(store.devices.list({}, { limit: 5, cursor: 'bm90LWEtY3Vyc29y' })).rejects.toMatchObject({ code: 'API_INVALID' });
      // A well-formed cursor with text where the time goes: the client's error on both engines, not a 500.
      await expect(store.alerts.list({}, { limit: 5, cursor: encodeCursor(['not-a-time', 'a-1']) })).rejects.toMatchObject({ code: 'API_INVALID' });
    });

    it('revoking a device keeps it refusable by id but removes its data and cancels its pending commands', async () => {
      const store = await make();
      await store.devices.insert(device('dev-a', { tags: ['x'] }));
      await store.commands.insert([command('cmd-1', 'dev-a'), command('cmd-2', 'dev-a', 'status.request', 'done')]);
      await store.reports.append({ deviceId: 'dev-a', seq: 1, kind: 'status', at: 1, receivedAt: 1, bytes: 2, data: {}, invalid: null }, { bytesPerKind: 1e6, bytesPerDevice: 1e6 });
      await store.devices.revoke('dev-a', 50, 'acct-owner');
      expect(await store.devices.get('dev-a')).toBeNull();
      expect(await store.devices.get('dev-a', { includeRevoked: true })).toMatchObject({ revokedAt: 50, revokedBy: 'acct-owner' });
      expect(await store.reports.list('dev-a', { kinds: null, after: 0, limit: 10 })).toEqual([]);
      expect(await store.devices.tags()).toEqual([]);
      expect((await store.commands.get('cmd-1'))?.status).toBe('cancelled');
      expect((await store.commands.get('cmd-2'))?.status).toBe('done');
    });

    it('trims and expires only final or plain commands: pending ones and trust commands stay', async () => {
      const store = await make();
      await store.devices.insert(device('dev-a'));
      const old = 1;
      await store.commands.insert([
        command('cmd-queued', 'dev-a', 'status.request', 'queued', old),
        command('cmd-trust', 'dev-a', 'key.rotate', 'queued', old),
        command('cmd-sent', 'dev-a', 'key.rotate', 'sent', old),
        ...Array.from({ length: 10 }, (_, i) => command(`cmd-done-${i}`, 'dev-a', 'status.request', 'done', 100 + i)),
      ]);
      expect(await store.commands.pruneFinal(3, 0)).toBe(7);
      expect(await store.commands.expireQueued(1_000, 2_000, { excludeTypes: ['key.rotate'] })).toBe(1);
      expect((await store.commands.get('cmd-queued'))?.status).toBe('expired');
      expect((await store.commands.get('cmd-trust'))?.status).toBe('queued');
      expect((await store.commands.pending('dev-a')).map((c) => c.id)).toEqual(['cmd-sent', 'cmd-trust']);
      expect((await store.commands.listForDevice('dev-a', { limit: 100, cursor: null })).items.filter((c) => c.status === 'done')).toHaveLength(3);
    });
  });
});

describe.skipIf(pgMissing)('PostgreSQL store: migrations and several nodes on one database', () => {
  const device2 = (id: string) => device(id);

  it('migrates once when two nodes open the same database together, and refuses a newer schema', async () => {
    const url = await cluster!.createDatabase();
    const [a, b] = [createPostgresStore({ url, logger: silentLogger() }), createPostgresStore({ url, logger: silentLogger() })];
    open.push(a, b);
    const opened = await Promise.all([a.open(), b.open()]);
    expect(opened.map((o) => o.created).sort()).toEqual([false, true]);
    expect(opened.every((o) => o.schemaVersion === POSTGRES_MIGRATIONS.at(-1)!.version)).toBe(true);
    // The two engines describe the same records: the same schema versions.
    expect(POSTGRES_MIGRATIONS.map((m) => [m.version, m.name])).toEqual(SQLITE_MIGRATIONS.map((m) => [m.version, m.name]));
    const raw = new pg.Client({ connectionString: url });
    await raw.connect();
    try {
      expect((await raw.query('SELECT count(*)::int AS n FROM schema_migrations')).rows[0].n).toBe(POSTGRES_MIGRATIONS.length);
      await raw.query("INSERT INTO schema_migrations (version, name, applied_at) VALUES (99, 'future', 0)");
    } finally {
      await raw.end();
    }
    await expect(createPostgresStore({ url, logger: silentLogger() }).open()).rejects.toMatchObject({ code: 'SERVER_STORE_VERSION' });
  });

  it('an unreachable database is SERVER_STORE_UNAVAILABLE, and the message never shows the password', async () => {
    const err = await createPostgresStore({ url: `postgres://rmagent:hunter2secret@127.0.0.1:${cluster!.port}/no_such_database`, logger: silentLogger() })
      .open()
      .catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'SERVER_STORE_UNAVAILABLE' });
    expect(String((err as Error).message)).not.toContain('hunter2secret');
  });

  it("one node's committed publish reaches the other node's subscribers (LISTEN/NOTIFY); a rolled-back one reaches nobody", async () => {
    const url = await cluster!.createDatabase();
    const a = await postgresOn(url);
    const b = await postgresOn(url);
    const heardOnB: string[] = [];
    const heardOnA: string[] = [];
    b.subscribe('command', ({ deviceId }) => void heardOnB.push(deviceId));
    a.subscribe('command', ({ deviceId }) => void heardOnA.push(deviceId));
    await expect(
      a.transaction(async (tx) => {
        await tx.devices.insert(device2('dev-x'));
        tx.publish('command', { deviceId: 'dev-x' });
        throw new Error('rolled back');
      }),
    ).rejects.toThrow('rolled back');
    await a.transaction(async (tx) => {
      await tx.devices.insert(device2('dev-y'));
      tx.publish('command', { deviceId: 'dev-y' });
    });
    // The publishing node's own subscribers heard it once, when the transaction returned.
    expect(heardOnA).toEqual(['dev-y']);
    for (let i = 0; i < 100 && !heardOnB.length; i++) await new Promise((r) => setTimeout(r, 20));
    expect(heardOnB).toEqual(['dev-y']);
    // What b heard is committed: b reads it.
    expect(await b.devices.get('dev-y')).not.toBeNull();
    await new Promise((r) => setTimeout(r, 100));
    expect(heardOnA).toEqual(['dev-y']);
  });

  it('two nodes enrolling with the last use of a token: the row lock lets exactly one through', async () => {
    const url = await cluster!.createDatabase();
    const a = await postgresOn(url);
    const b = await postgresOn(url);
    await a.enrollmentTokens.insert({ id: 'tok-1', tokenHash: 'h', label: null, expiresAt: null, maxUses: 1, uses: 0, tags: [], createdBy: 'acct-owner', createdAt: 1, revokedAt: null, revokedBy: null });
    const useOnce = (s: Store) =>
      s.transaction(async (tx) => {
        const token = await tx.enrollmentTokens.byHash('h', { forUpdate: true });
        await new Promise((r) => setTimeout(r, 50)); // both nodes are inside at once
        if (!token || token.uses >= (token.maxUses ?? Infinity)) return false;
        await tx.enrollmentTokens.recordUse(token.id);
        return true;
      });
    const outcomes = await Promise.all([useOnce(a), useOnce(b)]);
    expect(outcomes.filter(Boolean)).toHaveLength(1);
    expect((await a.enrollmentTokens.get('tok-1'))?.uses).toBe(1);
  });

  it('a webhook delivery is leased to one node at a time', async () => {
    const url = await cluster!.createDatabase();
    const a = await postgresOn(url);
    const b = await postgresOn(url);
    await a.webhooks.insert({ id: 'wh-1', url: 'https://example.invalid/', secret: 's', events: ['alert.raised'], createdBy: 'acct-owner', createdAt: 1 });
    await a.webhookDeliveries.insert(Array.from({ length: 20 }, (_, i) => ({ id: `del-${String(i).padStart(2, '0')}`, webhookId: 'wh-1', event: 'alert.raised' as const, payload: '{}', status: 'pending' as const, attempts: 0, nextAttemptAt: 1, lastError: null, createdAt: 1, deliveredAt: null })));
    const [ca, cb] = await Promise.all([a.webhookDeliveries.claimDue(10, 15, 60_000), b.webhookDeliveries.claimDue(10, 15, 60_000)]);
    const ids = [...ca, ...cb].map((d) => d.id);
    expect(new Set(ids).size).toBe(ids.length);
    expect(ids).toHaveLength(20);
    expect((await a.webhooks.forEvent('alert.raised')).map((w) => w.id)).toEqual(['wh-1']);
  });
});
