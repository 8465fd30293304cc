// A socket that closes while the server's auth or enroll step waits for the store (a slow PostgreSQL): the device
// must end offline, in this node's view (the API's `online`) and in the store's presence rows the other nodes read.
// The store is slowed the way a busy database is: this test holds a row lock (the device's, or the enrollment
// token's, or a table the welcome reads) in its own transaction, so the server's query waits for it; the agent's
// socket closes meanwhile, and the lock is released once the server has seen the close. Skipped where PostgreSQL is not
// installed (.ci/run installs it).
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/log.js';
import { hashSecret } from '../../src/server/secrets.js';
import { startServer, type RunningServer } from '../../src/server/server.js';
import { findPostgres, startPgCluster, type PgCluster } from './pg-cluster.js';
import { apiOf, connectAgent, enroll, newEnrollmentToken, tempDir } from './helpers.js';

const postgres = await findPostgres();
const missing = 'missing' in postgres ? postgres.missing : null;
if (missing) console.warn(`handshake close race test skipped: ${missing}`);

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe.skipIf(missing)('a socket closed while its handshake waits for the store', () => {
  let cluster: PgCluster;
  let url: string;
  let server: RunningServer;
  let db: pg.Client;

  beforeAll(async () => {
    cluster = await startPgCluster(postgres as Exclude<typeof postgres, { missing: string }>);
    url = await cluster.createDatabase();
    server = await startServer({ host: '127.0.0.1', port: 0, dataDir: await tempDir(), database: url, logger: silentLogger() });
    db = new pg.Client({ connectionString: url });
    await db.connect();
  }, 60_000);
  afterAll(async () => {
    await db?.end();
    await server?.stop();
    await cluster?.stop();
  });

  /** What the API and the store's presence rows say of the device, once the server's presence writes settled. */
  async function onlineNow(deviceId: string): Promise<{ api: boolean; presenceRows: number }> {
    let last = { api: true, presenceRows: 1 };
    // Presence is written a turn of the event loop after it changes: look a few times, take the last answer.
    for (let i = 0; i < 10; i++) {
      await sleep(100);
      const res = await apiOf(server)('GET', `/devices/${deviceId}`);
      const rows = await db.query('SELECT 1 FROM presence WHERE device_id = $1', [deviceId]);
      last = { api: Boolean(res.body.online), presenceRows: rows.rowCount ?? 0 };
    }
    return last;
  }

  /** Holds `lockSql` in a transaction of its own while `during` runs, then rolls it back. */
  async function whileLocked(lockSql: string, params: unknown[], during: () => Promise<void>): Promise<void> {
    await db.query('BEGIN');
    try {
      await db.query(lockSql, params);
      await during();
    } finally {
      await db.query('ROLLBACK');
    }
  }

  /** Waits until the server's handshake query waits for our lock (pg_stat_activity), at most 10 s. */
  async function serverWaitsForLock(): Promise<void> {
    for (let i = 0; i < 200; i++) {
      const waiting = await db.query("SELECT 1 FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND pid <> pg_backend_pid()");
      if (waiting.rowCount) return;
      await sleep(50);
    }
    throw new Error('the server never waited for the lock');
  }

  it('auth: the device row is locked while the agent\'s socket closes; the device ends offline', async () => {
    const first = await enroll(server, await newEnrollmentToken(server));
    await first.close();
    expect((await onlineNow(first.deviceId)).api).toBe(false);

    const agent = await connectAgent(server.agentUrl);
    await whileLocked('SELECT id FROM devices WHERE id = $1 FOR UPDATE', [first.deviceId], async () => {
      await agent.sendAuth(first.deviceId, first.keys);
      await serverWaitsForLock(); // updateFacts waits for the row
      agent.ws.terminate();
      await agent.closed;
      await sleep(1_500); // the server has seen the close long before (and any close grace is over)
    });
    expect(await onlineNow(first.deviceId), 'the socket closed during auth').toEqual({ api: false, presenceRows: 0 });
    // The device can still connect afterwards.
    const again = await connectAgent(server.agentUrl);
    await again.sendAuth(first.deviceId, first.keys);
    await again.next('welcome');
    expect((await onlineNow(first.deviceId)).api).toBe(true);
    await again.close();
  });

  it('auth: the socket closes later, while the welcome is put together (the activations table locked): the device ends offline', async () => {
    const first = await enroll(server, await newEnrollmentToken(server), 'pc-02');
    await first.close();
    const agent = await connectAgent(server.agentUrl);
    // ACCESS EXCLUSIVE: even the server's read of the device's activations waits, after auth was accepted.
    await whileLocked('LOCK TABLE activations IN ACCESS EXCLUSIVE MODE', [], async () => {
      await agent.sendAuth(first.deviceId, first.keys);
      await serverWaitsForLock();
      agent.ws.terminate();
      await agent.closed;
      await sleep(1_500);
    });
    expect(await onlineNow(first.deviceId), 'the socket closed while the welcome was put together').toEqual({ api: false, presenceRows: 0 });
  });

  it('enroll: the token row is locked while the agent\'s socket closes; the new device ends offline', async () => {
    const token = await newEnrollmentToken(server);
    const agent = await connectAgent(server.agentUrl);
    await whileLocked('SELECT id FROM enrollment_tokens WHERE token_hash = $1 FOR UPDATE', [hashSecret(token)], async () => {
      await agent.sendEnroll(token);
      await serverWaitsForLock(); // the enrollment transaction waits for the token row
      agent.ws.terminate();
      await agent.closed;
      await sleep(1_500);
    });
    // The enrollment itself completes once the lock is gone (the device is known, its key registered), but nobody holds its socket.
    await sleep(500);
    const listed = await apiOf(server)('GET', '/devices?limit=100');
    const devices = listed.body.devices as Array<{ id: string; online: boolean }>;
    expect(devices.length, 'the previous tests\' devices and this one').toBe(3);
    expect(devices.filter((d) => d.online).map((d) => d.id), 'devices online after a socket closed during enroll').toEqual([]);
    const rows = await db.query('SELECT device_id FROM presence');
    expect(rows.rows).toEqual([]);
  });
});
