// Transport security for real: the built `rmagent-server --tls-cert --tls-key` serving HTTPS and wss:// with a
// certificate from a test CA (made by openssl), and real agent processes that trust it through caFile, refuse it
// without the CA, accept or refuse it by its public-key pin, and refuse ws:// to a non-loopback address.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runNode, type Spawned } from '../../src/cli/processes.js';
import type { AgentStatus } from '../../src/agent/status.js';
import { AGENT_JS, agentHome, assertBuilt, SERVER_JS, tempDir, type AgentHome } from '../e2e/harness.js';
import { api, makeCerts, startServer, type Certs, type TlsServer as Server } from './tls-server.js';

const problemCodes = (s: AgentStatus) => s.problems.map((p) => p.code);

describe('wss:// to the reference server with a test CA', () => {
  let certs: Certs;
  let ca: Buffer;
  let server: Server;
  const agents: Spawned[] = [];

  beforeAll(async () => {
    assertBuilt();
    certs = makeCerts(tempDir('tls-certs'));
    ca = readFileSync(certs.caFile);
    server = await startServer(['--tls-cert', certs.certFile, '--tls-key', certs.keyFile]);
  });
  afterAll(async () => {
    for (const a of agents.splice(0)) await a.stop();
    await server?.proc.stop();
  });

  /** A fresh agent enrolled against the TLS server with its own one-use token; returns the token's id too. */
  async function enrolledAgent(name: string, env: NodeJS.ProcessEnv): Promise<{ home: AgentHome; tokenId: string }> {
    const created = await api<{ id: string; token: string }>(server, ca, 'POST', '/enrollment-tokens', { expiresInSec: 600, maxUses: 1 });
    expect(created.status).toBe(201);
    const home = await agentHome(name, env);
    const enrolled = await home.cli('enroll', '--server', server.agentUrl, '--token', created.body.token, '--server-key', server.serverKey);
    expect(enrolled.code, enrolled.stderr).toBe(0);
    agents.push(await home.start());
    return { home, tokenId: created.body.id };
  }
  const tokenUses = async (id: string) => {
    const list = await api<{ tokens: Array<{ id: string; uses: number }> }>(server, ca, 'GET', '/enrollment-tokens');
    return list.body.tokens.find((t) => t.id === id)?.uses;
  };

  it('needs both --tls-cert and --tls-key, and says so when a file is missing', async () => {
    const half = await runNode(SERVER_JS, ['--listen', '127.0.0.1:0', '--data', tempDir('tls-half'), '--tls-cert', certs.certFile]);
    expect(half.code).toBe(64);
    expect(half.stderr + half.stdout).toContain('--tls-key');
    const missing = await runNode(SERVER_JS, ['--listen', '127.0.0.1:0', '--data', tempDir('tls-missing'), '--tls-cert', certs.certFile, '--tls-key', '/nonexistent/server.key']);
    expect(missing.code).toBe(3);
    expect(missing.stderr + missing.stdout).toContain('/nonexistent/server.key');
  });

  it('serves the API over HTTPS and agents over wss:// only', async () => {
    expect(server.httpUrl).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    expect(server.agentUrl).toMatch(/^wss:\/\/127\.0\.0\.1:\d+\/agent$/);
    expect((await api(server, ca, 'GET', '/me')).status).toBe(200);
    // Without the CA the HTTPS client refuses the certificate; plain HTTP on the port gets no API answer.
    await expect(api(server, undefined, 'GET', '/me')).rejects.toThrow(/certificate/i);
    const plain = await fetch(`http://127.0.0.1:${server.port}/api/v1/me`).then((r) => r.status, (e: Error) => e.message);
    expect(plain).not.toBe(200);
  });

  it('an agent with connection.caFile connects over wss:// and is healthy', async () => {
    const { home } = await enrolledAgent('tls-ca', { RMAGENT_CA_FILE: certs.caFile });
    const s = await home.waitFor('connected over wss', (x) => x.connection.state === 'connected' && x.registration.enrolled);
    expect(s.registration.server).toBe(server.agentUrl);
    expect(s.connection.insecure).toBe(false);
    expect(problemCodes(s)).not.toContain('TLS_FAILED');
  });

  it('without the CA the agent reports TLS_FAILED with a fix, and never enrolls', async () => {
    const { home, tokenId } = await enrolledAgent('tls-noca', {});
    const s = await home.waitFor('TLS failure in status', (x) => x.connection.lastError?.code === 'TLS_FAILED');
    expect(s.connection.state).not.toBe('connected');
    const p = s.problems.find((x) => x.code === 'TLS_FAILED');
    expect(p?.message).toMatch(/certificate/i);
    expect(p?.fix).toContain('caFile');
    expect(await tokenUses(tokenId)).toBe(0);
  });

  it('with the right pin it connects; with a wrong pin it refuses (TLS_PIN_MISMATCH) and sends nothing', async () => {
    const good = await enrolledAgent('tls-pin', { RMAGENT_CA_FILE: certs.caFile, RMAGENT_PIN_SHA256: certs.pin });
    await good.home.waitFor('connected with the pin', (x) => x.connection.state === 'connected' && x.registration.enrolled);

    const wrongPin = Buffer.alloc(32, 7).toString('base64');
    const bad = await enrolledAgent('tls-badpin', { RMAGENT_CA_FILE: certs.caFile, RMAGENT_PIN_SHA256: wrongPin });
    const s = await bad.home.waitFor('pin refusal in status', (x) => x.connection.lastError?.code === 'TLS_PIN_MISMATCH');
    expect(s.problems.find((x) => x.code === 'TLS_PIN_MISMATCH')?.message).toContain(certs.pin);
    // Nothing reached the server: the one-use token is untouched and no device appeared for this agent.
    await new Promise((r) => setTimeout(r, 1_500));
    expect(await tokenUses(bad.tokenId)).toBe(0);
    const devices = await api<{ devices: Array<{ id: string }> }>(server, ca, 'GET', '/devices');
    expect(devices.body.devices.length).toBe(2); // the caFile agent and the good-pin agent
    expect((await bad.home.live())?.registration.enrolled).toBe(false);
  });
});

describe('ws:// to a non-loopback address', () => {
  let server: Server;
  const agents: Spawned[] = [];
  beforeAll(async () => {
    assertBuilt();
    server = await startServer();
  });
  afterAll(async () => {
    for (const a of agents.splice(0)) await a.stop();
    await server?.proc.stop();
  });

  // 0.0.0.0 is not a loopback name (so the transport rule applies) yet the kernel delivers it to this machine.
  async function agentOnWildcard(name: string, env: NodeJS.ProcessEnv): Promise<AgentHome> {
    const token = readFileSync(path.join(server.dataDir, 'owner.token'), 'utf8').trim();
    const res = await fetch(`${server.httpUrl}/api/v1/enrollment-tokens`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: '{"maxUses":1}' });
    const created = (await res.json()) as { token: string };
    const home = await agentHome(name, env);
    const args = ['enroll', '--server', `ws://0.0.0.0:${server.port}/agent`, '--token', created.token, '--server-key', server.serverKey];
    if (!env.RMAGENT_ALLOW_INSECURE) {
      // `enroll` refuses ws:// to a non-loopback host up front (exit 64) ...
      const refused = await home.cli(...args);
      expect(refused.code, refused.stderr).toBe(64);
      expect(refused.stderr).toMatch(/CLI_USAGE.*ws:\/\/0\.0\.0\.0.*wss:\/\//s);
    }
    // ... so the registration is made where it was allowed, and the daemon below must refuse it on its own.
    const enrolled = await runNode(AGENT_JS, args, { ...home.env, RMAGENT_ALLOW_INSECURE: 'true' });
    expect(enrolled.code, enrolled.stderr).toBe(0);
    agents.push(await home.start());
    return home;
  }

  it('is refused (INSECURE_TRANSPORT, unhealthy) without allowInsecure', async () => {
    const home = await agentOnWildcard('ws-refused', {});
    const s = await home.waitFor('insecure refusal', (x) => x.connection.lastError?.code === 'INSECURE_TRANSPORT');
    expect(s.health).toBe('unhealthy');
    expect(s.registration.enrolled).toBe(false);
  });

  it('connects with allowInsecure, and status reports the insecure transport as a problem', async () => {
    const home = await agentOnWildcard('ws-allowed', { RMAGENT_ALLOW_INSECURE: 'true' });
    const s = await home.waitFor('connected insecurely', (x) => x.connection.state === 'connected' && x.registration.enrolled);
    expect(s.connection.insecure).toBe(true);
    expect(problemCodes(s)).toContain('INSECURE_TRANSPORT_ALLOWED');
    expect(s.health).not.toBe('healthy');
  });
});
