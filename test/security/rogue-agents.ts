// The built agent as the victim of the rogue endpoints in rogue-peer.ts: enrolled with `rmagent enroll` (token in a
// 0600 file) and run with `rmagent run` in a temporary state folder (test/e2e/harness.ts), and what an attacker
// changes around it: where its server name leads (registration URL rewritten, as DNS or routing tampering does).
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { expect } from 'vitest';
import { waitUntil, type Spawned } from '../../src/cli/processes.js';
import type { Frame } from '../../src/protocol/frames.js';
import { writeJsonAtomic } from '../../src/system/files.js';
import type { AgentStatus } from '../../src/agent/status.js';
import { agentHome, startServer, tempDir, type AgentHome, type ServerProcess } from '../e2e/harness.js';
import { roguePeer, typeOf, type RoguePeer } from './rogue-peer.js';

/** The device's name for the server now leads to `url` (DNS/routing tampering, or its repair). */
export function pointTo(home: AgentHome, url: string): Promise<void> {
  const file = path.join(home.stateDir, 'registration.json');
  return writeJsonAtomic(file, { ...(JSON.parse(readFileSync(file, 'utf8')) as object), serverUrl: url });
}
export const registration = (home: AgentHome) =>
  JSON.parse(readFileSync(path.join(home.stateDir, 'registration.json'), 'utf8')) as { deviceId: string | null; enrollmentToken: string | null; serverKeys: string[] };
export const typesHeard = (r: RoguePeer) => [...new Set(r.heard.map(typeOf))];
export const problemCodes = (s: AgentStatus) => s.problems.map((p) => p.code);
export const monitoringRunning = (s: AgentStatus) => s.services.some((x) => x.name === 'monitoring' && x.phase === 'running');
/** A Monitoring policy that never raises anything. */
export const QUIET_POLICY = { name: 'Quiet disk', service: 'monitoring', settings: { checks: [{ id: 'disk', type: 'disk', threshold: 100, intervalSec: 60, severity: 'warning' }] } };

export async function newToken(server: ServerProcess): Promise<string> {
  const { body } = await server.api<{ token: string }>('POST', '/enrollment-tokens', { expiresInSec: 600, maxUses: 1 });
  return body.token;
}

/** `rmagent enroll` with the token in a 0600 file (and `config` as the config file), then `rmagent run`. */
export async function enrolledHome(name: string, url: string, serverKey: string, token: string, opts: { env?: NodeJS.ProcessEnv; config?: object; cleanups: Array<() => Promise<unknown>> }): Promise<{ home: AgentHome; agent: Spawned }> {
  const home = await agentHome(name, opts.env ?? {});
  if (opts.config) writeFileSync(path.join(home.dir, 'config.json'), `${JSON.stringify(opts.config)}\n`);
  const tokenFile = path.join(home.dir, 'token');
  writeFileSync(tokenFile, `${token}\n`, { mode: 0o600 });
  const r = await home.cli('enroll', '--server', url, '--server-key', serverKey, '--token-file', tokenFile);
  expect(r.code, r.stderr).toBe(0);
  const agent = await home.start();
  opts.cleanups.push(() => agent.stop());
  return { home, agent };
}

/**
 * A device enrolled through a relay with a valid certificate in front of a server that sees no TLS channel (TLS
 * ends at a proxy), without connection.requireChannelBinding, running Monitoring: the relay sits inside its
 * session. It records every frame of the server by type and, while `mode.withholdDesired`, keeps desired states
 * back (in `withheld`); `mode.rewrite` changes what it passes on (a holder of the server key re-signs).
 */
export async function deviceBehindRelay(name: string, cert: { certFile: string; keyFile: string }, caFile: string) {
  const server = await startServer(tempDir(`${name}-server`));
  const recorded: Record<string, string[]> = {};
  const mode: { withholdDesired: boolean; rewrite?: ((frame: Frame) => Frame) | undefined } = { withholdDesired: false };
  const withheld: string[] = [];
  const relay = await roguePeer({
    cert,
    relayTo: { url: server.agentUrl },
    onServer: (text, wire) => {
      const type = typeOf(text);
      (recorded[type] ??= []).push(text);
      if (type === 'desired' && mode.withholdDesired) return void withheld.push(text);
      wire.toAgent(mode.rewrite ? JSON.stringify(mode.rewrite(JSON.parse(text) as Frame)) : text);
    },
  });
  const cleanups: Array<() => Promise<unknown>> = [];
  const { home, agent } = await enrolledHome(name, relay.url, server.serverKey, await newToken(server), { env: { RMAGENT_CA_FILE: caFile }, cleanups });
  const s = await home.waitFor('enrolled through the relay', (x) => x.connection.state === 'connected' && x.registration.enrolled);
  const deviceId = s.registration.deviceId!;
  const policy = await server.api<{ id: string }>('POST', '/policies', QUIET_POLICY);
  expect((await server.api('POST', '/services/monitoring/activate', { deviceIds: [deviceId], policyId: policy.body.id })).status).toBe(200);
  await home.waitFor('monitoring running', monitoringRunning);
  const device = {
    server, relay, home, agent, deviceId, recorded, mode, withheld,
    /** The device's last ack of each command id (heard from index `from` on), once each has a final one. */
    finalAcks: (ids: string[], from: number) => waitUntil(async () => {
      const acks = relay.heard.slice(from).filter((t) => typeOf(t) === 'ack').map((t) => (JSON.parse(t) as Frame<'ack'>).body).filter((a) => ids.includes(a.commandId) && a.status !== 'accepted');
      const last = ids.map((id) => acks.filter((a) => a.commandId === id).at(-1));
      return last.every(Boolean) ? (last as Array<Frame<'ack'>['body']>) : undefined;
    }, 10_000, `final acks of ${ids.join(', ')}`),
    /** Drops the device's socket and waits until it is connected (through the relay) again. */
    async reconnect() {
      const before = relay.connections();
      relay.kick();
      await waitUntil(async () => relay.connections() > before || undefined, 10_000, 'a new connection');
      await home.waitFor('connected again', (x) => x.connection.state === 'connected');
    },
    async restart() {
      const before = relay.connections();
      await device.agent.stop();
      device.agent = await home.start();
      await waitUntil(async () => relay.connections() > before || undefined, 10_000, 'a new connection');
      await home.waitFor('connected again', (x) => x.connection.state === 'connected');
    },
    async stop() {
      await device.agent.stop();
      for (const c of cleanups) await c().catch(() => undefined);
      await relay.close();
      await server.stop();
    },
  };
  return device;
}
