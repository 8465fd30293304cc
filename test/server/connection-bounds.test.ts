// Attacks on the gateway's connection bounds from a hostile review of the reference server, each through real
// loopback sockets and each failing without its defence (checked by putting the old code back):
// (1) an IPv6 client with a /64 has 2^64 addresses: the per-address agent cap (and the API's per-address rate
//     limit) counted each address alone, so one /64 held any number of connections. Now a /64 is one client.
// (2) the per-address bound on sockets that are not agent connections (unfinished upgrade requests, API clients)
//     let many addresses, each under it, hold file descriptors without limit. Now a node-wide bound applies too.
// (3) a pre-auth peer that reads its answers made the server answer ~18,000 invalid frames a second for the whole
//     10 s handshake timeout (+181 MB of server RSS), then reconnected. Now it gets PRE_AUTH_MAX_FRAMES frames
//     (pings too), then one fatal HANDSHAKE_FRAME_LIMIT and close 4001.
// (4) a pre-auth peer that never reads made the server queue its answers (+43 MB of server memory measured from
//     one such peer). Now it is dropped once more than PRE_AUTH_MAX_BUFFERED waits for it. The frame budget of (3)
//     now stops such a peer long before (nine answers of a few hundred bytes fit in any TCP buffer), so this test
//     raises the budget (preAuthMaxFrames, an option of startServer and not a flag) to check the buffer bound alone:
//     it stays as defence in depth, should an answer before authentication ever grow large.
// (5) new connections were not rate-limited, only those held at once: a peer that opened and closed connections
//     made 23,000-52,000 upgrades in 12 s, one that sent frames until HANDSHAKE_FRAME_LIMIT and reconnected at once
//     3,000-16,000. Now an address gets its rate of upgrades a minute (a bucket as large), the rest 429.
import net from 'node:net';
import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import winston from 'winston';
import WebSocket from 'ws';
import { silentLogger, type Logger } from '../../src/log.js';
import { parseTrustedProxies } from '../../src/server/client-address.js';
import type { ConnectionCaps } from '../../src/server/connection-caps.js';
import { PRE_AUTH_MAX_BUFFERED, PRE_AUTH_MAX_FRAMES } from '../../src/server/gateway.js';
import { startServer, type RunningServer, type ServerOptions } from '../../src/server/server.js';
import { connectAgent, enroll, maskedFrame, maskedTextFrame, newEnrollmentToken, sampleFacts, sendReports, serverFramesOn, stoppedAfterEach, tempDir, upgradeByHand } from './helpers.js';

const { stopLater, track } = stoppedAfterEach();

async function serverWith(options: Partial<ServerOptions> & { connectionCaps: ConnectionCaps }): Promise<RunningServer> {
  return stopLater(await startServer({ host: '127.0.0.1', port: 0, dataDir: await tempDir(), logger: silentLogger(), handshakeTimeoutMs: 60_000, ...options }));
}

/** A raw socket closed after the test (the server may have closed it already). */
function held(socket: net.Socket): net.Socket {
  stopLater({ close: async () => void socket.destroy() });
  return socket;
}

/** The upgrade's status from behind a trusted proxy (this test) naming `forwardedFor` as the client: 101 or the refusal. */
const upgrade = (url: string, forwardedFor?: string) => new Promise<number>((resolve, reject) => {
  const ws = new WebSocket(url, ['rmagent.v2'], forwardedFor ? { headers: { 'x-forwarded-for': forwardedFor } } : {});
  ws.once('open', () => { stopLater({ close: async () => ws.terminate() }); resolve(101); });
  ws.once('unexpected-response', (_req, res) => { ws.terminate(); resolve(res.statusCode ?? 0); });
  ws.once('error', reject);
});

/** A real winston logger whose warnings stay in memory. */
function memoryLogger(): { lines: string[]; logger: Logger } {
  const lines: string[] = [];
  const stream = new Writable({ objectMode: true, write(info: { level: string; message: string }, _enc, done) { if (info.level === 'warn') lines.push(info.message); done(); } });
  return { lines, logger: winston.createLogger({ level: 'debug', transports: [new winston.transports.Stream({ stream })] }) };
}

describe('IPv6 clients count per /64', () => {
  it('one /64 (many addresses forwarded by a trusted proxy) gets the per-address cap, not a cap per address; the next /64 and IPv4 clients are apart', async () => {
    const server = await serverWith({ connectionCaps: { total: 0, perAddress: 3 }, trustedProxies: parseTrustedProxies('127.0.0.1') });
    const statuses: number[] = [];
    for (let i = 1; i <= 10; i++) statuses.push(await upgrade(server.agentUrl, `2001:db8:1:2::${i.toString(16)}`));
    expect(statuses, 'ten addresses of 2001:db8:1:2::/64 with a per-address cap of 3').toEqual([101, 101, 101, 429, 429, 429, 429, 429, 429, 429]);
    expect(await upgrade(server.agentUrl, '2001:db8:1:2:ffff:ffff:ffff:ffff')).toBe(429);
    expect(await upgrade(server.agentUrl, '2001:db8:1:3::1')).toBe(101);
    // IPv4 (mapped or not) stays one address per client, though mapped addresses share ::ffff:0:0/64.
    for (const client of ['::ffff:198.51.100.1', '::ffff:198.51.100.2', '198.51.100.3']) expect(await upgrade(server.agentUrl, client)).toBe(101);
  });

  it('the API\'s per-address rate limit counts a /64 once', async () => {
    const server = await serverWith({ connectionCaps: { total: 0, perAddress: 0 }, trustedProxies: parseTrustedProxies('127.0.0.1'), apiRateLimits: { perToken: { perSec: 10_000, burst: 10_000 }, perAddress: { perSec: 1, burst: 5 } } });
    const statuses: number[] = [];
    for (let i = 1; i <= 8; i++) {
      const res = await fetch(`${server.httpUrl}/api/v1/devices`, { headers: { authorization: `Bearer ${server.ownerToken}`, 'x-forwarded-for': `2001:db8:7:7::${i}` }, signal: AbortSignal.timeout(10_000) });
      await res.body?.cancel();
      statuses.push(res.status);
    }
    expect(statuses.filter((s) => s === 429).length, `statuses ${statuses.join(',')}`).toBeGreaterThanOrEqual(2);
  });

  it('on ::1: connections from an IPv6 peer are counted (cap 2: the third is refused 429)', async () => {
    const server = await serverWith({ host: '::1', connectionCaps: { total: 0, perAddress: 2 } });
    expect(server.agentUrl).toMatch(/^ws:\/\/\[::1\]:/);
    expect([await upgrade(server.agentUrl), await upgrade(server.agentUrl), await upgrade(server.agentUrl)]).toEqual([101, 101, 429]);
  });
});

describe('sockets that are not agent connections, node-wide', () => {
  it('200 unfinished upgrade requests from 20 addresses (10 each, under the per-address bound) hold at most the node bound; connected agents keep working; one log line', async () => {
    const { lines, logger } = memoryLogger();
    const BOUND = 40;
    const server = await serverWith({ logger, connectionCaps: { total: 0, perAddress: 1_000, nonAgentSockets: BOUND } });
    const agent = track(await enroll(server, await newEnrollmentToken(server)));
    const { port } = new URL(server.httpUrl);
    const sockets: net.Socket[] = [];
    let closedByServer = 0;
    for (let a = 0; a < 20; a++) {
      await Promise.all(Array.from({ length: 10 }, () => new Promise<void>((resolve) => {
        const s = held(net.connect({ host: '127.0.0.1', port: Number(port), localAddress: `127.0.0.${10 + a}` }, () => {
          s.write('GET /agent HTTP/1.1\r\nHost: 127.0.0.1\r\n'); // and nothing more
          resolve();
        }));
        s.on('error', () => resolve());
        s.on('close', () => { closedByServer += 1; });
        sockets.push(s);
      })));
    }
    // The server holds each for its 10 s headers timeout unless it refused it at the TCP connection.
    for (let i = 0; i < 40 && sockets.length - closedByServer > BOUND; i++) await new Promise((r) => setTimeout(r, 100));
    await new Promise((r) => setTimeout(r, 500));
    const stillOpen = sockets.length - closedByServer;
    expect(stillOpen, `200 unfinished upgrade requests from 20 addresses, node bound ${BOUND}: the server holds ${stillOpen}`).toBeLessThanOrEqual(BOUND);
    // The devices already connected are not touched by the bound.
    await sendReports(agent, [{ seq: 1, kind: 'inventory', at: Date.now(), data: { hostname: 'x' } }]);
    expect(lines.filter((l) => l.includes('--max-non-agent-sockets')), `warnings: ${lines.join(' | ')}`).toHaveLength(1);
    // Once the attacker's sockets are gone, new clients are served again.
    for (const s of sockets) s.destroy();
    let health = 0;
    for (let i = 0; i < 20 && health !== 200; i++) {
      health = await fetch(`${server.httpUrl}/healthz`, { signal: AbortSignal.timeout(2_000) }).then((r) => r.status, () => 0);
      if (health !== 200) await new Promise((r) => setTimeout(r, 100));
    }
    expect(health).toBe(200);
  });
});

/**
 * Floods a raw peer that reads everything with `frame` (up to 20,000 of them in 10 s, paced by TCP) and waits up to
 * 5 s more for the server to close it: what the server answered (text frames and pongs) and its close code.
 */
async function floodReading(agentUrl: string, frame: Buffer): Promise<{ sent: number; texts: string[]; pongs: number; closeCode: number | null; closed: boolean }> {
  const socket = held(await upgradeByHand(agentUrl));
  const answers = serverFramesOn(socket);
  let closed = false;
  socket.on('error', () => undefined);
  void answers.ended.then(() => { closed = true; });
  const batch = Buffer.concat(Array.from({ length: 100 }, () => frame));
  const started = Date.now();
  let sent = 0;
  while (!closed && sent < 20_000 && Date.now() - started < 10_000) {
    if (!socket.write(batch)) await new Promise<void>((resolve) => { socket.once('drain', resolve); setTimeout(resolve, 200); });
    sent += 100;
    await new Promise((r) => setTimeout(r, 1));
  }
  await Promise.race([answers.ended, new Promise((r) => setTimeout(r, 5_000))]);
  const close = answers.frames.find((f) => f.opcode === 0x8);
  return {
    sent,
    texts: answers.frames.filter((f) => f.opcode === 0x1).map((f) => f.payload.toString()),
    pongs: answers.frames.filter((f) => f.opcode === 0xa).length,
    closeCode: close && close.payload.length >= 2 ? close.payload.readUInt16BE(0) : null,
    closed,
  };
}

describe('frames before authentication', () => {
  it('a peer that reads its answers and sends frames that are not JSON is closed after PRE_AUTH_MAX_FRAMES: at most one answer more (a fatal HANDSHAKE_FRAME_LIMIT), close 4001', async () => {
    const server = await serverWith({ connectionCaps: { total: 0, perAddress: 0 } }); // handshake timeout 60 s
    const started = Date.now();
    const result = await floodReading(server.agentUrl, maskedTextFrame('x'.repeat(100)));
    const summary = `${result.sent} frames sent in ${Date.now() - started} ms, ${result.texts.length} answered, closed: ${result.closed}`;
    expect(result.texts.length, summary).toBeLessThanOrEqual(PRE_AUTH_MAX_FRAMES + 1);
    expect(result.closed, summary).toBe(true);
    const last = JSON.parse(result.texts.at(-1) ?? '{}') as { type?: string; body?: { code?: string; fatal?: boolean } };
    expect(last.type).toBe('error');
    expect(last.body).toMatchObject({ code: 'HANDSHAKE_FRAME_LIMIT', fatal: true });
    expect(result.closeCode).toBe(4001);
    console.log(`pre-auth frame budget: ${summary}`);
  }, 30_000);

  it('pings count too: a peer pinging before it authenticated gets at most PRE_AUTH_MAX_FRAMES pongs, then HANDSHAKE_FRAME_LIMIT and close 4001', async () => {
    const server = await serverWith({ connectionCaps: { total: 0, perAddress: 0 } });
    const result = await floodReading(server.agentUrl, maskedFrame(0x9, Buffer.from('p'.repeat(100))));
    const summary = `${result.sent} pings sent, ${result.pongs} pongs, ${result.texts.length} text frames, closed: ${result.closed}`;
    expect(result.pongs, summary).toBeLessThanOrEqual(PRE_AUTH_MAX_FRAMES);
    expect(result.closed, summary).toBe(true);
    expect(result.texts.map((t) => (JSON.parse(t) as { body: { code: string } }).body.code)).toEqual(['HANDSHAKE_FRAME_LIMIT']);
    expect(result.closeCode).toBe(4001);
  }, 30_000);

  it('an agent that sends the whole budget (agent.hello, six error frames, enroll) still enrolls, and frames after the welcome are not counted', async () => {
    const server = await serverWith({ connectionCaps: { total: 0, perAddress: 0 } });
    const agent = track(await connectAgent(server.agentUrl));
    await agent.hello();
    for (let i = 0; i < PRE_AUTH_MAX_FRAMES - 2; i++) agent.send('error', { code: 'FRAME_INVALID', message: `a third-party agent's complaint ${i}` });
    await agent.sendEnroll(await newEnrollmentToken(server), sampleFacts('budget'));
    expect((await agent.next('welcome')).body.enrolled).toBe(true);
    await sendReports(agent, Array.from({ length: 3 * PRE_AUTH_MAX_FRAMES }, (_, i) => ({ seq: i + 1, kind: 'status', at: Date.now(), data: {} })));
    expect(agent.ws.readyState).toBe(WebSocket.OPEN);
  });
});

describe('a peer before authentication that never reads', () => {
  it('is dropped once the server has more than PRE_AUTH_MAX_BUFFERED queued for it, long before the handshake timeout (frame budget raised to reach this bound alone)', async () => {
    // handshake timeout 60 s; the frame budget would close this peer after 8 frames, before anything is queued
    const server = await serverWith({ connectionCaps: { total: 0, perAddress: 0 }, preAuthMaxFrames: Number.MAX_SAFE_INTEGER });
    const socket = held(await upgradeByHand(server.agentUrl));
    socket.pause(); // never reads again: the server's answers pile up in the kernel, then in the server
    let dropped = false;
    socket.on('error', () => { dropped = true; });
    socket.on('close', () => { dropped = true; });
    // Frames of 100 bytes that are not JSON, each answered by a FRAME_INVALID error of ~190 bytes. (Not smaller: a
    // 64 KiB read of more than MAX_INBOX_FRAMES frames is refused as an overload, a different defence.)
    const batch = Buffer.concat(Array.from({ length: 200 }, () => maskedTextFrame('x'.repeat(100))));
    const started = Date.now();
    let frames = 0;
    while (!dropped && frames < 1_000_000 && Date.now() - started < 30_000) {
      if (!socket.write(batch)) await new Promise<void>((resolve) => { socket.once('drain', resolve); socket.once('close', resolve); setTimeout(resolve, 1_000); });
      frames += 200;
      await new Promise((r) => setImmediate(r));
    }
    expect(dropped, `${frames} frames sent in ${Date.now() - started} ms without reading: the server still holds the socket`).toBe(true);
    console.log(`pre-auth peer that never reads dropped after ${frames} frames of 100 bytes in ${Date.now() - started} ms (bound ${PRE_AUTH_MAX_BUFFERED} bytes queued)`);
  }, 60_000);
});

/**
 * One upgrade attempt by hand from `localAddress`: the status the server answered (101 or the refusal) and its
 * Retry-After. With `frames`, a 101'd peer then sends that many frames that are not JSON and waits for the
 * server's fatal HANDSHAKE_FRAME_LIMIT (or the close) before it gives up the socket; without, it closes at once.
 */
async function upgradeAttempt(agentUrl: string, localAddress: string, frames = 0): Promise<{ status: number; retryAfter: number | null }> {
  const { port } = new URL(agentUrl);
  const socket = held(net.connect({ host: '127.0.0.1', port: Number(port), localAddress }));
  try {
    const head = await new Promise<string>((resolve, reject) => {
      socket.once('data', (d) => resolve(d.toString('latin1')));
      socket.once('error', reject);
      socket.once('close', () => reject(new Error('closed before an answer')));
      socket.write(['GET /agent HTTP/1.1', `Host: 127.0.0.1:${port}`, 'Upgrade: websocket', 'Connection: Upgrade',
        'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==', 'Sec-WebSocket-Version: 13', 'Sec-WebSocket-Protocol: rmagent.v2', '', ''].join('\r\n'));
    });
    const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(head)?.[1] ?? 0);
    const retryAfter = /\r\nRetry-After: (\d+)\r\n/i.exec(head);
    if (status === 101 && frames > 0) {
      const { frames: answers, ended } = serverFramesOn(socket);
      socket.write(Buffer.concat(Array.from({ length: frames }, () => maskedTextFrame('x'.repeat(100)))));
      let closed = false;
      void ended.then(() => { closed = true; });
      for (let i = 0; i < 1_000 && !closed && !answers.some((f) => f.payload.includes('HANDSHAKE_FRAME_LIMIT')); i++) await new Promise((r) => setTimeout(r, 5));
    }
    return { status, retryAfter: retryAfter ? Number(retryAfter[1]) : null };
  } finally {
    socket.destroy();
  }
}

describe('the rate of new agent connections per address', () => {
  // 20 upgrades a minute: 20 at once, then one every 3 s. What may get 101 is counted from the time the flood took,
  // so a slow (loaded) machine only allows the refills it really waited for; nothing else depends on timing.
  const PER_MINUTE = 20;
  const allowed = (startedMs: number) => PER_MINUTE + Math.ceil(((Date.now() - startedMs) / 60_000) * PER_MINUTE);

  it('a peer that only opens and closes connections gets its rate of upgrades; the rest are 429 with Retry-After (10-60 s) and no WebSocket; another address is not affected', async () => {
    const server = await serverWith({ connectionCaps: { total: 0, perAddress: 1_000, upgradesPerMinute: PER_MINUTE } });
    const started = Date.now();
    const answers: Array<{ status: number; retryAfter: number | null }> = [];
    for (let round = 0; round < 15; round++) answers.push(...await Promise.all(Array.from({ length: 10 }, () => upgradeAttempt(server.agentUrl, '127.0.0.20'))));
    const upgraded = answers.filter((a) => a.status === 101).length;
    const bound = allowed(started);
    expect(upgraded, `150 open/close upgrades from one address at ${PER_MINUTE}/min: ${upgraded} got 101 (allowed ${bound})`).toBeLessThanOrEqual(bound);
    expect(upgraded).toBeGreaterThanOrEqual(PER_MINUTE);
    const refused = answers.filter((a) => a.status !== 101);
    expect(refused.length).toBe(150 - upgraded);
    for (const r of refused) {
      expect(r.status).toBe(429);
      expect(r.retryAfter).toBeGreaterThanOrEqual(10);
      expect(r.retryAfter).toBeLessThanOrEqual(60);
    }
    expect((await upgradeAttempt(server.agentUrl, '127.0.0.21')).status, 'another address').toBe(101);
  });

  it('a peer that sends frames until HANDSHAKE_FRAME_LIMIT and reconnects at once gets its rate of upgrades, the rest 429', async () => {
    const server = await serverWith({ connectionCaps: { total: 0, perAddress: 1_000, upgradesPerMinute: PER_MINUTE } });
    const started = Date.now();
    const statuses: number[] = [];
    for (let i = 0; i < 80; i++) statuses.push((await upgradeAttempt(server.agentUrl, '127.0.0.22', PRE_AUTH_MAX_FRAMES + 1)).status);
    const upgraded = statuses.filter((s) => s === 101).length;
    const bound = allowed(started);
    expect(upgraded, `80 reconnecting frame floods from one address at ${PER_MINUTE}/min: ${upgraded} got 101 (allowed ${bound})`).toBeLessThanOrEqual(bound);
    expect(upgraded).toBeGreaterThanOrEqual(PER_MINUTE);
    expect(statuses.filter((s) => s === 429)).toHaveLength(80 - upgraded);
  });
});
