// The agent gateway over real loopback sockets: handshake, refusals, reports, bad frames, replacement,
// command acks, heartbeat and graceful shutdown, with a server in a temp folder.
import { afterEach, describe, expect, it } from 'vitest';
import { checkCommand, generateKeyPair, signedBytes, verifyBytes } from '../../src/protocol/sign.js';
import { makeFrame } from '../../src/protocol/frames.js';
import { startServer, type RunningServer } from '../../src/server/server.js';
import { silentLogger } from '../../src/log.js';
import WebSocket from 'ws';
import { parseTrustedProxies } from '../../src/server/client-address.js';
import { apiOf, authenticate, connectAgent, enroll, newEnrollmentToken, sampleFacts, serverIn, tempDir, upgradeByHand, type TestAgent } from './helpers.js';

const open: Array<{ close(): Promise<void> } | RunningServer> = [];
afterEach(async () => {
  for (const thing of open.splice(0).reverse()) await ('stop' in thing ? thing.stop() : thing.close());
});

async function started(dir?: string, heartbeatSec?: number): Promise<RunningServer> {
  const server = await serverIn(dir ?? (await tempDir()), heartbeatSec);
  open.push(server);
  return server;
}
function track<T extends TestAgent>(agent: T): T {
  open.push(agent);
  return agent;
}

const report = (seq: number, data: Record<string, unknown> = { hostname: 'x' }) => ({ seq, kind: 'inventory' as const, at: 1000 + seq, data });

describe('gateway handshake', () => {
  it('answers agent.hello with a signed server.hello, enrolls with a token, then sends a signed welcome and desired state', async () => {
    const server = await started();
    const agent = track(await connectAgent(server.agentUrl));
    const keys = generateKeyPair();
    const hello = await agent.hello(keys);
    expect(hello.body).toMatchObject({ serverKey: server.serverPublicKey, deviceKey: keys.publicKey, protocol: 2, channel: { kind: 'none' } });
    expect(Buffer.from(hello.body.nonce, 'base64')).toHaveLength(32);
    expect(verifyBytes(server.serverPublicKey, signedBytes(hello), hello.sig!)).toBe(true);
    await agent.sendEnroll(await newEnrollmentToken(server), sampleFacts(), keys);
    const welcome = await agent.next('welcome');
    expect(welcome.body).toMatchObject({ enrolled: true, lastSeq: 0, heartbeatSec: 30 });
    expect(verifyBytes(server.serverPublicKey, signedBytes(welcome), welcome.sig!)).toBe(true);
    expect(welcome.body.deviceId).toMatch(/^dev-/);
    const desired = await agent.next('desired');
    const verdict = checkCommand(desired, { trustedKeys: [server.serverPublicKey], deviceId: welcome.body.deviceId, now: Date.now(), windowMs: 60_000, alreadySeen: () => false });
    expect(verdict).toEqual({ ok: true });
    const devices = await apiOf(server)('GET', '/devices');
    expect(devices.body.devices).toHaveLength(1);
    expect(devices.body.devices[0]).toMatchObject({ id: welcome.body.deviceId, online: true, hostname: 'pc-01', teamviewer: { edition: 'host', teamviewerId: '123456789' } });
  });

  it('refuses an unknown enrollment token with a fatal ENROLLMENT_REFUSED and close 4001', async () => {
    const server = await started();
    const agent = track(await connectAgent(server.agentUrl));
    await agent.sendEnroll('enr_not-a-real-token');
    const error = await agent.next('error');
    expect(error.body).toMatchObject({ code: 'ENROLLMENT_REFUSED', fatal: true });
    expect((await agent.closed).code).toBe(4001);
  });

  it('honours maxUses: a token for two devices refuses the third', async () => {
    const server = await started();
    const token = await newEnrollmentToken(server, { maxUses: 2 });
    track(await enroll(server, token, 'a'));
    track(await enroll(server, token, 'b'));
    const third = track(await connectAgent(server.agentUrl));
    await third.sendEnroll(token, sampleFacts('c'));
    expect((await third.next('error')).body.message).toContain('no uses left');
  });

  it('authenticates a known device by its key proof and refuses a bad proof or an unknown device', async () => {
    const server = await started();
    const first = await enroll(server, await newEnrollmentToken(server));
    await first.close();
    const again = track(await authenticate(server, first.deviceId, first.keys));
    expect(again.welcome.body).toMatchObject({ deviceId: first.deviceId, enrolled: false });

    const forger = track(await connectAgent(server.agentUrl));
    const otherKey = generateKeyPair();
    await forger.sendAuth(first.deviceId, otherKey);
    expect((await forger.next('error')).body).toMatchObject({ code: 'AUTH_FAILED', fatal: true });
    expect((await forger.closed).code).toBe(4001);

    const stranger = track(await connectAgent(server.agentUrl));
    await stranger.sendAuth('dev-unknown', otherKey);
    expect((await stranger.next('error')).body.code).toBe('AUTH_FAILED');
  });

  it('closes a connection that does not authenticate in time', async () => {
    const server = await startServer({ host: '127.0.0.1', port: 0, dataDir: await tempDir(), logger: silentLogger(), handshakeTimeoutMs: 300 });
    open.push(server);
    const agent = track(await connectAgent(server.agentUrl));
    await agent.hello();
    expect((await agent.next('error', 3000)).body).toMatchObject({ code: 'AUTH_FAILED', fatal: true });
    expect((await agent.closed).code).toBe(4001);
  });

  it('drops a peer stuck mid-frame at the handshake timeout: destroyed within seconds, not after close()\'s 30 s wait', async () => {
    const server = await startServer({ host: '127.0.0.1', port: 0, dataDir: await tempDir(), logger: silentLogger(), handshakeTimeoutMs: 300 });
    open.push(server);
    // A raw socket, as a slowloris has: upgraded, then the head of a 2,000,000-byte frame and 1 KiB of it, and
    // never the rest, nor an answer to the server's close frame.
    const socket = await upgradeByHand(server.agentUrl);
    socket.write(Buffer.concat([Buffer.from([0x81, 0xff, 0, 0, 0, 0, 0, 0x1e, 0x84, 0x80, 1, 2, 3, 4]), Buffer.alloc(1024)]));
    const started = Date.now();
    const closed = await Promise.race([
      new Promise<boolean>((resolve) => socket.once('close', () => resolve(true))),
      new Promise<boolean>((resolve) => setTimeout(() => resolve(false), 8_000)),
    ]);
    socket.destroy();
    expect(closed, 'the server still holds the socket 8 s after the handshake timeout').toBe(true);
    expect(Date.now() - started).toBeLessThan(8_000);
  }, 15_000);

  it('a second connection for the same device replaces the first', async () => {
    const server = await started();
    const first = track(await enroll(server, await newEnrollmentToken(server)));
    const second = track(await authenticate(server, first.deviceId, first.keys));
    expect((await first.closed).code).toBe(4000);
    second.send('report', report(1));
    expect((await second.next('report.ack')).body.upTo).toBe(1);
    expect((await apiOf(server)('GET', `/devices/${first.deviceId}`)).body.online).toBe(true);
  });
});

describe('gateway connection caps behind a load balancer', () => {
  /** Upgrade status: 101, or what the server refused with. */
  const upgrade = (url: string, forwardedFor: string) => new Promise<{ status: number; ws?: WebSocket }>((resolve, reject) => {
    const ws = new WebSocket(url, ['rmagent.v2'], { headers: { 'x-forwarded-for': forwardedFor } });
    ws.once('open', () => { open.push({ close: async () => ws.terminate() }); resolve({ status: 101, ws }); });
    ws.once('unexpected-response', (_req, res) => { ws.terminate(); resolve({ status: res.statusCode ?? 0 }); });
    ws.once('error', reject);
  });

  it('counts per X-Forwarded-For client only from a trusted proxy; from anyone else the header changes nothing', async () => {
    const base = { host: '127.0.0.1', port: 0, logger: silentLogger(), handshakeTimeoutMs: 60_000, connectionCaps: { total: 0, perAddress: 2 } };
    const behind = await startServer({ ...base, dataDir: await tempDir(), trustedProxies: parseTrustedProxies('127.0.0.1') });
    open.push(behind);
    expect((await upgrade(behind.agentUrl, '198.51.100.1')).status).toBe(101);
    expect((await upgrade(behind.agentUrl, '6.6.6.6, 198.51.100.1')).status).toBe(101); // a forged left-hand claim is not believed
    expect((await upgrade(behind.agentUrl, '7.7.7.7, 198.51.100.1')).status).toBe(429);
    expect((await upgrade(behind.agentUrl, '198.51.100.2')).status).toBe(101);

    // Without --trusted-proxies, every header names a new "client", but all count for the peer, 127.0.0.1.
    const direct = await startServer({ ...base, dataDir: await tempDir() });
    open.push(direct);
    expect((await upgrade(direct.agentUrl, '198.51.100.1')).status).toBe(101);
    expect((await upgrade(direct.agentUrl, '198.51.100.2')).status).toBe(101);
    expect((await upgrade(direct.agentUrl, '198.51.100.3')).status).toBe(429);
  });
});

describe('gateway reports', () => {
  it('stores reports in order, drops duplicates, and keeps lastSeq across a server restart', async () => {
    const dir = await tempDir();
    const server = await serverIn(dir);
    const agent = await enroll(server, await newEnrollmentToken(server));
    for (const seq of [1, 2, 3]) agent.send('report', report(seq, { n: seq }));
    let upTo = 0;
    for (let i = 0; i < 3 && upTo < 3; i++) upTo = (await agent.next('report.ack')).body.upTo;
    expect(upTo).toBe(3);
    agent.send('report', report(2, { n: 'duplicate' }));
    expect((await agent.next('report.ack')).body.upTo).toBe(3);
    await agent.close();
    await server.stop();

    const restarted = await started(dir);
    const back = track(await authenticate(restarted, agent.deviceId, agent.keys));
    expect(back.welcome.body.lastSeq).toBe(3);
    back.send('report', report(3, { n: 'resent after restart' }));
    back.send('report', report(4, { n: 4 }));
    // Acks are cumulative: the two frames may be handled in one batch (one ack up to 4) or in two (3, then 4).
    const acks: number[] = [];
    for (let i = 0; i < 2 && acks.at(-1) !== 4; i++) acks.push((await back.next('report.ack')).body.upTo);
    expect([[3, 4], [4]]).toContainEqual(acks);
    const stored = await apiOf(restarted)('GET', `/devices/${agent.deviceId}/reports?kind=inventory`);
    expect(stored.body.reports.map((r: { data: { n: unknown } }) => r.data.n)).toEqual([1, 2, 3, 4]);
    const after = await apiOf(restarted)('GET', `/devices/${agent.deviceId}/reports?after=2`);
    expect(after.body.reports.map((r: { seq: number }) => r.seq)).toEqual([3, 4]);
  });

  it('acknowledges a burst of reports cumulatively, in increasing order, ending at the last one', async () => {
    const server = await started();
    const agent = track(await enroll(server, await newEnrollmentToken(server)));
    for (let seq = 1; seq <= 200; seq++) agent.send('report', report(seq, { n: seq }));
    const acks: number[] = [];
    for (let i = 0; i < 200 && acks.at(-1) !== 200; i++) acks.push((await agent.next('report.ack')).body.upTo);
    expect(acks.at(-1)).toBe(200);
    expect(acks).toEqual([...acks].sort((a, b) => a - b));
    const stored = await apiOf(server)('GET', `/devices/${agent.deviceId}/reports?limit=500`);
    expect(stored.body.reports.map((r: { seq: number }) => r.seq)).toEqual(Array.from({ length: 200 }, (_, i) => i + 1));
  });

  it('answers a bad frame with an error frame and keeps the connection up', async () => {
    const server = await started();
    const agent = track(await enroll(server, await newEnrollmentToken(server)));
    agent.sendText('{not json');
    expect((await agent.next('error')).body.code).toBe('FRAME_INVALID');
    const unknownType = makeFrame('report', report(1));
    agent.sendText(JSON.stringify({ ...unknownType, type: 'reboot.now' }));
    expect((await agent.next('error')).body).toMatchObject({ code: 'FRAME_UNKNOWN_TYPE', ref: unknownType.id });
    agent.sendText(JSON.stringify({ ...makeFrame('report', report(1)), body: { seq: -1 } }));
    expect((await agent.next('error')).body.code).toBe('FRAME_INVALID');
    agent.send('report', report(1));
    expect((await agent.next('report.ack')).body.upTo).toBe(1);
    expect(agent.badFrames).toEqual([]);
  });

  it('applies service, teamviewer and alert reports to the device and the alert list', async () => {
    const server = await started();
    const agent = track(await enroll(server, await newEnrollmentToken(server)));
    agent.send('report', { seq: 1, kind: 'service', at: 10, data: { name: 'monitoring', phase: 'running', policy: { id: 'pol-x', version: 1, applied: true }, reason: null, attempts: 0, since: 10 } });
    agent.send('report', { seq: 2, kind: 'teamviewer', at: 11, data: { ...sampleFacts().teamviewer!, version: '15.61.0' } });
    agent.send('report', { seq: 3, kind: 'alert.raised', at: 12, data: { key: 'cpu', service: 'monitoring', check: 'cpu', severity: 'warning', message: 'CPU above 90%', value: 97, threshold: 90 } });
    let upTo = 0;
    for (let i = 0; i < 3 && upTo < 3; i++) upTo = (await agent.next('report.ack')).body.upTo;
    const device = (await apiOf(server)('GET', `/devices/${agent.deviceId}`)).body;
    expect(device.teamviewer.version).toBe('15.61.0');
    expect(device.services).toEqual([expect.objectContaining({ name: 'monitoring', phase: 'running' })]);
    const alerts = (await apiOf(server)('GET', '/alerts?open=true')).body.alerts;
    expect(alerts).toEqual([expect.objectContaining({ deviceId: agent.deviceId, key: 'cpu', severity: 'warning', value: 97, clearedAt: null })]);
    agent.send('report', { seq: 4, kind: 'alert.cleared', at: 20, data: { key: 'cpu', service: 'monitoring' } });
    expect((await agent.next('report.ack')).body.upTo).toBe(4);
    expect((await apiOf(server)('GET', '/alerts?open=true')).body.alerts).toEqual([]);
    expect((await apiOf(server)('GET', '/alerts?open=false')).body.alerts[0].clearedAt).toBe(20);
  });
});

describe('gateway commands and lifecycle', () => {
  it('records the agent ack of a command', async () => {
    const server = await started();
    const agent = track(await enroll(server, await newEnrollmentToken(server)));
    const issued = await apiOf(server)('POST', `/devices/${agent.deviceId}/commands`, { type: 'status.request' });
    expect(issued.status).toBe(202);
    const command = await agent.next('status.request');
    expect(command.id).toBe(issued.body.id);
    expect(command.body).toMatchObject({ deviceId: agent.deviceId, actor: 'acct-owner' });
    agent.send('ack', { commandId: command.id, status: 'done' });
    let status = '';
    for (let i = 0; i < 50 && status !== 'done'; i++) {
      await new Promise((r) => setTimeout(r, 20));
      status = (await apiOf(server)('GET', `/devices/${agent.deviceId}/commands`)).body.commands[0].status;
    }
    expect(status).toBe('done');
  });

  it('queues a command for an offline device and sends it when the device reconnects', async () => {
    const server = await started();
    const agent = await enroll(server, await newEnrollmentToken(server));
    await agent.close();
    const issued = await apiOf(server)('POST', `/devices/${agent.deviceId}/commands`, { type: 'inventory.request', body: { full: true } });
    expect(issued.body.status).toBe('queued');
    const back = track(await authenticate(server, agent.deviceId, agent.keys));
    const command = await back.next('inventory.request');
    expect(command).toMatchObject({ id: issued.body.id, body: { full: true } });
    expect(checkCommand(command, { trustedKeys: [server.serverPublicKey], deviceId: agent.deviceId, now: Date.now(), windowMs: 60_000, alreadySeen: () => false })).toEqual({ ok: true });
  });

  it('drops an agent that stops answering pings within two heartbeats', async () => {
    const server = await started(undefined, 1);
    const agent = track(await connectAgent(server.agentUrl, { autoPong: false }));
    await agent.hello();
    const started_ = Date.now();
    const closed = await Promise.race([agent.closed, new Promise<null>((r) => setTimeout(() => r(null), 6000))]);
    expect(closed).not.toBeNull();
    expect(Date.now() - started_).toBeGreaterThanOrEqual(1500);
  });

  it('tells agents when to come back when it shuts down', async () => {
    const server = await serverIn(await tempDir());
    const agent = await enroll(server, await newEnrollmentToken(server));
    await server.stop();
    const error = await agent.next('error');
    expect(error.body.code).toBe('SERVER_UNREACHABLE');
    expect(error.body.retryAfterMs).toBeGreaterThanOrEqual(1000);
    expect((await agent.closed).code).toBe(1012);
  });
});
