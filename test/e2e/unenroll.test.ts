// `rmagent unenroll --yes` while the daemon runs (issue 16): its services stop, it disconnects, and the server
// forgets the device (the `unenroll` frame); before, every service kept running and the console still listed it.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitUntil, type Spawned } from '../../src/cli/processes.js';
import { agentHome, assertBuilt, startServer, tempDir, type AgentHome, type ServerProcess } from './harness.js';

describe('unenroll while the daemon runs', () => {
  let server: ServerProcess;
  let home: AgentHome;
  let agent: Spawned;
  let deviceId: string;

  beforeAll(async () => {
    assertBuilt();
    server = await startServer(tempDir('unenroll-server'));
    const { body } = await server.api<{ token: string }>('POST', '/enrollment-tokens', { expiresInSec: 600, maxUses: 1 });
    home = await agentHome('unenroll', { RMAGENT_TOKEN: body.token });
    expect((await home.cli('enroll', '--server', server.agentUrl, '--server-key', server.serverKey)).code).toBe(0);
    agent = await home.start();
    deviceId = (await home.waitFor('enrolled', (s) => s.connection.state === 'connected' && s.registration.enrolled)).registration.deviceId!;
  });
  afterAll(async () => {
    await agent?.stop();
    await server?.stop();
  });

  it('stops the services, disconnects, and the server no longer lists the device', async () => {
    const policy = await server.api<{ id: string }>('POST', '/policies', { name: 'Disk', service: 'monitoring', settings: { checks: [{ id: 'disk', type: 'disk', threshold: 99, intervalSec: 1, severity: 'warning' }] } });
    expect((await server.api('POST', '/services/monitoring/activate', { deviceIds: [deviceId], policyId: policy.body.id })).status).toBe(200);
    await home.waitFor('monitoring running', (s) => s.services.some((x) => x.name === 'monitoring' && x.phase === 'running'));

    const r = await home.cli('unenroll', '--yes', '--json');
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout).daemon).toEqual({ services: ['monitoring'], serverTold: true });

    const { body } = await server.api<{ devices: Array<{ id: string }> }>('GET', '/devices');
    expect(body.devices.map((d) => d.id)).not.toContain(deviceId);
    const after = await waitUntil(() => home.live(), 10_000, 'the daemon answering');
    expect(after.services).toEqual([]);
    expect(after.registration.registered).toBe(false);
    expect(after.connection.state).not.toBe('connected');
    expect(agent.child.exitCode).toBeNull(); // the daemon stays up, unregistered, until its service is stopped
  });
});
