// A device deleted in the console, end to end: the real agent process is refused with DEVICE_REVOKED and says so in
// `rmagent status --json`, the contract MDM scripts read, with the fix.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { agentHome, assertBuilt, startServer, tempDir, type AgentHome, type ServerProcess } from './harness.js';
import type { Spawned } from '../../src/cli/processes.js';

describe('a deleted device', () => {
  let server: ServerProcess;
  let home: AgentHome;
  let agent: Spawned | undefined;

  beforeAll(async () => {
    assertBuilt();
    server = await startServer(tempDir('server-revoked'));
    home = await agentHome('revoked');
  });
  afterAll(async () => {
    await agent?.stop();
    await server?.stop();
  });

  it('is refused with DEVICE_REVOKED, which the agent shows as its connection problem', async () => {
    const { body } = await server.api<{ token: string }>('POST', '/enrollment-tokens', {});
    expect((await home.cli('enroll', '--server', server.agentUrl, '--token', body.token, '--server-key', server.serverKey)).code).toBe(0);
    agent = await home.start();
    const connected = await home.waitFor('connected', (s) => s.connection.state === 'connected' && s.registration.enrolled);
    const deleted = await server.api('DELETE', `/devices/${connected.registration.deviceId}`);
    expect(deleted.status).toBe(200);

    const refused = await home.waitFor('DEVICE_REVOKED', (s) => s.problems.some((p) => p.code === 'DEVICE_REVOKED'));
    expect(refused.connection.state).not.toBe('connected');
    const { status } = await home.statusJson();
    expect(status.problems).toContainEqual(expect.objectContaining({ code: 'DEVICE_REVOKED', fix: expect.stringContaining('rmagent enroll') }));
    expect(status.health).not.toBe('healthy');
    // It asks again only in 30-60 minutes (a deleted device cannot fix itself by retrying), not at the normal pace
    // (this agent's backoff ceiling is 1 s).
    const backoff = await home.waitFor('backing off', (s) => s.connection.state === 'backoff' && s.connection.nextRetryAt !== null);
    expect(backoff.connection.nextRetryAt! - Date.now()).toBeGreaterThan(25 * 60_000);
  });
});
