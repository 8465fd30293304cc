// Several server nodes behind one URL, for real: a PostgreSQL cluster, two built `rmagent-server` processes sharing
// it (and the command keys), Debian's nginx as the WebSocket load balancer in front of them, and real agents that
// know only nginx's URL — all started here on loopback. Then: presence is right on both nodes, a command created
// through one node's API reaches a device held by the other (LISTEN/NOTIFY), and when a node is killed its agents
// come back through nginx to the other node with nothing lost and nothing applied twice.
// Skipped (saying why) where PostgreSQL or nginx is not installed (.ci/run installs both).
import { copyFileSync, readFileSync } from 'node:fs';
import path from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitUntil, type Spawned } from '../../src/cli/processes.js';
import { findPostgres, startPgCluster, type PgCluster } from '../server/pg-cluster.js';
import { agentHome, assertBuilt, startServer, tempDir, type AgentHome, type ServerProcess } from './harness.js';
import { NGINX, startNginx } from './nginx.js';

const postgres = await findPostgres();
const missing = 'missing' in postgres ? postgres.missing : NGINX ? null : 'nginx is not installed (apt-get install nginx; .ci/run does)';
if (missing) console.warn(`multi-node test skipped: ${missing}`);

const AGENTS = 4;
const PRESENCE_TTL_SEC = 3;
// Given to every node once: the owner's token and the secret the command keys are sealed with in the database.
const KEY_FILES = ['owner.token', 'key-encryption.secret'];

describe.skipIf(missing)('two server nodes on PostgreSQL behind nginx', () => {
  let cluster: PgCluster;
  let url: string;
  let db: pg.Client;
  let nodes: ServerProcess[] = [];
  let nginx: Awaited<ReturnType<typeof startNginx>>;
  const homes: AgentHome[] = [];
  const agents: Spawned[] = [];
  const deviceIds: string[] = [];
  const started = Date.now();

  /** device id -> port of the node holding it, from the presence table. */
  async function holders(): Promise<Map<string, number>> {
    const rows = await db.query<{ device_id: string; info: string }>('SELECT p.device_id, n.info FROM presence p JOIN server_nodes n ON n.id = p.node_id');
    return new Map(rows.rows.map((r) => [r.device_id, Number((JSON.parse(r.info) as { listen: string }).listen.split(':').pop())]));
  }
  const nodeOnPort = (port: number) => nodes.find((n) => n.port === port)!;
  const otherNode = (port: number) => nodes.find((n) => n.port !== port)!;

  async function commandDone(via: ServerProcess, deviceId: string, commandId: string): Promise<{ status: string; attempts: number; reason: { code: string; message: string } | null }> {
    return waitUntil(async () => {
      const list = await via.api<{ commands: Array<{ id: string; status: string; attempts: number; reason: { code: string; message: string } | null }> }>('GET', `/devices/${deviceId}/commands`);
      const c = list.body.commands.find((x) => x.id === commandId);
      return c && !['queued', 'sent', 'accepted'].includes(c.status) ? c : undefined;
    }, 30_000, `command ${commandId} final`);
  }

  beforeAll(async () => {
    assertBuilt();
    cluster = await startPgCluster(postgres as Exclude<typeof postgres, { missing: string }>);
    url = await cluster.createDatabase();
    db = new pg.Client({ connectionString: url });
    // nginx (on 127.0.0.1) is the nodes' only peer: it is named a trusted proxy, so per-address limits count the
    // client address it puts in X-Forwarded-For, as docs/scaling.md says to configure.
    const args = ['--database', url, '--presence-ttl-sec', String(PRESENCE_TTL_SEC), '--trusted-proxies', '127.0.0.1'];
    const first = await startServer(tempDir('node-a'), 0, args);
    await db.connect();
    // Every node signs with the command keys in the database and accepts the same owner token: the first node's
    // owner.token and key-encryption.secret, copied once.
    const secondDir = tempDir('node-b');
    for (const f of KEY_FILES) copyFileSync(path.join(first.dataDir, f), path.join(secondDir, f));
    const second = await startServer(secondDir, 0, args);
    nodes = [first, second];
    nginx = await startNginx(nodes.map((n) => n.port), tempDir('nginx'));
  }, 120_000);

  afterAll(async () => {
    await Promise.all(agents.map((a) => a.stop()));
    await Promise.all(nodes.map((n) => n.stop()));
    await nginx?.stop();
    await db?.end().catch(() => undefined);
    await cluster?.stop();
    console.log(`multi-node test: ${((Date.now() - started) / 1000).toFixed(1)} s in all`);
  }, 60_000);

  it('agents enroll through nginx and are spread over both nodes; both APIs show every device online', async () => {
    const created = await nodes[0]!.api<{ token: string }>('POST', '/enrollment-tokens', { expiresInSec: 3600, maxUses: AGENTS });
    expect(created.status).toBe(201);
    const agentUrl = `ws://127.0.0.1:${nginx.port}/agent`;
    for (let i = 0; i < AGENTS; i++) {
      const home = await agentHome(`cluster-${i}`);
      const enrolled = await home.cli('enroll', '--server', agentUrl, '--token', created.body.token, '--server-key', nodes[0]!.serverKey, '--alias', `cluster-${i}`);
      expect(enrolled.code, enrolled.stderr).toBe(0);
      homes.push(home);
      agents.push(await home.start());
    }
    for (const home of homes) deviceIds.push((await home.waitFor('connected', (s) => s.connection.state === 'connected' && s.registration.enrolled, 30_000)).registration.deviceId!);
    const held = await waitUntil(async () => {
      const h = await holders();
      return h.size === AGENTS ? h : undefined;
    }, 10_000, 'presence of every agent');
    // nginx's round robin: both nodes hold agents.
    expect(new Set(held.values())).toEqual(new Set(nodes.map((n) => n.port)));
    for (const node of nodes) {
      const list = await waitUntil(async () => {
        const r = await node.api<{ devices: Array<{ id: string; online: boolean }> }>('GET', '/devices');
        return r.body.devices.filter((d) => d.online).length === AGENTS ? r.body.devices : undefined;
      }, 10_000, `node ${node.port} sees every device online`);
      expect(list.map((d) => d.id).sort()).toEqual([...deviceIds].sort());
    }
  }, 120_000);

  it("a command created through one node's API reaches the device on the other node and ends done", async () => {
    const held = await holders();
    for (const deviceId of deviceIds) {
      const via = otherNode(held.get(deviceId)!);
      const issued = await via.api<{ id: string }>('POST', `/devices/${deviceId}/commands`, { type: 'status.request' });
      expect(issued.status).toBe(202);
      expect(await commandDone(via, deviceId, issued.body.id)).toMatchObject({ status: 'done' });
    }
  }, 120_000);

  it('a killed node: its agents come back through nginx to the other node, its presence expires, nothing is lost or applied twice', async () => {
    const held = await holders();
    const victim = nodes[1]!;
    const survivor = nodes[0]!;
    const moved = deviceIds.filter((id) => held.get(id) === victim.port);
    expect(moved.length).toBeGreaterThan(0);
    const homeOf = (id: string) => homes[deviceIds.indexOf(id)]!;
    // A command in flight when the node dies, and one created while it is dead.
    const inFlight = await survivor.api<{ id: string }>('POST', `/devices/${moved[0]}/commands`, { type: 'status.request' });
    victim.proc.child.kill('SIGKILL');
    const killedAt = Date.now();
    const whileDead = await survivor.api<{ id: string }>('POST', `/devices/${moved[0]}/commands`, { type: 'status.request' });
    expect(whileDead.status).toBe(202);

    // Every agent is back, held by the survivor.
    await waitUntil(async () => {
      const h = await holders();
      return deviceIds.every((id) => h.get(id) === survivor.port) ? true : undefined;
    }, 30_000, 'every agent held by the surviving node');
    const reconnectMs = Date.now() - killedAt;
    // The dead node's presence expired: only the survivor is left in server_nodes.
    await waitUntil(async () => ((await db.query('SELECT count(*)::int AS n FROM server_nodes')).rows[0].n === 1 ? true : undefined), (PRESENCE_TTL_SEC + 10) * 1000, 'dead node expired');
    const devices = await survivor.api<{ devices: Array<{ id: string; online: boolean }> }>('GET', '/devices');
    expect(devices.body.devices.every((d) => d.online)).toBe(true);

    // Nothing lost: both commands reached their final state; each was accepted by the agent once (its replay journal).
    for (const id of [inFlight.body.id, whileDead.body.id]) {
      const final = await commandDone(survivor, moved[0]!, id);
      expect(['done', 'interrupted'], JSON.stringify(final)).toContain(final.status);
      const journal = readFileSync(path.join(homeOf(moved[0]!).stateDir, 'replay.jsonl'), 'utf8');
      expect(journal.split('\n').filter((l) => l.includes(`"${id}"`))).toHaveLength(1);
    }
    expect((await commandDone(survivor, moved[0]!, whileDead.body.id)).status).toBe('done');
    // Nothing lost or stored twice: every report each agent sent is stored once, in order, and its outbox is empty.
    for (const id of moved) {
      await homeOf(id).waitFor('outbox drained', (s) => s.connection.state === 'connected' && s.outbox.pending === 0, 30_000);
      const { body } = await survivor.api<{ reports: Array<{ seq: number }>; lastSeq: number }>('GET', `/devices/${id}/reports?limit=500`);
      const seqs = body.reports.map((r) => r.seq);
      expect(seqs).toEqual(Array.from({ length: seqs.length }, (_, i) => seqs[0]! + i));
      expect(seqs.at(-1)).toBe(body.lastSeq);
    }
    console.log(`multi-node: ${moved.length} of ${AGENTS} agents moved to the surviving node within ${reconnectMs} ms of the kill`);
    expect(nodeOnPort(survivor.port)).toBe(survivor);
  }, 180_000);
});
