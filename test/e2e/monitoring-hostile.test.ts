// Issue 15 end to end: a real agent whose Monitoring policy has a log check with a catastrophic pattern over a log any
// user writes, and a log check on a FIFO. Throughout, the daemon answers `rmagent status` (its local endpoint) within
// 1 s, heartbeats reach the server, and status shows the FIFO check as a problem instead of HEALTHY.
import { execFileSync } from 'node:child_process';
import { appendFileSync, chmodSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitUntil, type Spawned } from '../../src/cli/processes.js';
import { requestLocal } from '../../src/system/local-socket.js';
import { agentHome, assertBuilt, startServer, tempDir, type AgentHome, type ServerProcess } from './harness.js';

describe.runIf(process.platform !== 'win32')('Monitoring log checks a local user points at the agent', () => {
  let server: ServerProcess;
  let home: AgentHome;
  let agent: Spawned;
  let deviceId: string;

  beforeAll(async () => {
    assertBuilt();
    server = await startServer(tempDir('hostile-server'));
    home = await agentHome('hostile');
    const { body } = await server.api<{ token: string }>('POST', '/enrollment-tokens', { expiresInSec: 600, maxUses: 1 });
    const enrolled = await home.cli('enroll', '--server', server.agentUrl, '--token', body.token, '--server-key', server.serverKey);
    expect(enrolled.code, enrolled.stderr).toBe(0);
    agent = await home.start();
    deviceId = (await home.waitFor('enrolled', (s) => s.connection.state === 'connected' && s.registration.enrolled)).registration.deviceId!;
  });

  afterAll(async () => {
    // SIGKILL after 3 s: an agent frozen by a pattern never handles SIGTERM.
    await agent?.stop('SIGTERM', 3_000);
    await server?.stop();
  });

  it('keeps answering status within 1 s and heartbeats continue; the FIFO check is a visible problem', async () => {
    const userLog = path.join(home.dir, 'user.log');
    writeFileSync(userLog, '');
    chmodSync(userLog, 0o666); // any local user appends lines here
    const fifo = path.join(home.dir, 'app.log');
    execFileSync('mkfifo', [fifo]);
    const policy = await server.api<{ id: string }>('POST', '/policies', {
      name: 'Hostile logs', service: 'monitoring',
      settings: { checks: [
        { type: 'log', id: 'evil', path: userLog, pattern: '^(a+)+$', intervalSec: 1 },
        { type: 'log', id: 'fifo', path: fifo, pattern: 'ERROR', intervalSec: 1 },
      ] },
    });
    expect(policy.status).toBe(201);
    expect((await server.api('POST', '/services/monitoring/activate', { deviceIds: [deviceId], policyId: policy.body.id })).status).toBe(200);
    await home.waitFor('monitoring running', (s) => s.services.some((x) => x.name === 'monitoring' && x.phase === 'running'));
    await new Promise((r) => setTimeout(r, 1_500)); // the user log's end is found
    // Exponential for a backtracking engine (it never ends), then a line that matches.
    appendFileSync(userLog, `${'a'.repeat(40)}!\naaaa\n`);

    const answers: number[] = [];
    const lastSeen = new Set<number>();
    const until = Date.now() + 8_000;
    while (Date.now() < until) {
      const started = performance.now();
      const answer = await requestLocal(path.join(home.stateDir, 'rmagent.sock'), { method: 'status' }, 1_000);
      answers.push(performance.now() - started);
      expect(answer.ok, 'the daemon answered status within 1 s').toBe(true);
      const device = await server.api<{ device?: { lastSeen: number | null }; lastSeen?: number | null }>('GET', `/devices/${deviceId}`);
      const seen = device.body.device?.lastSeen ?? device.body.lastSeen;
      if (seen) lastSeen.add(seen);
      await new Promise((r) => setTimeout(r, 400));
    }
    expect(Math.max(...answers)).toBeLessThan(1_000);
    // Heartbeats every 2 s (pongs, and the reports in between) moved the server's lastSeen on several times.
    expect(lastSeen.size).toBeGreaterThanOrEqual(3);

    const { code, status } = await home.statusJson();
    expect(status.agent.source).toBe('daemon');
    expect(code).toBe(1);
    expect(status.health).toBe('degraded');
    expect(status.problems).toEqual(expect.arrayContaining([expect.objectContaining({ code: 'CHECK_SOURCE_UNAVAILABLE', message: expect.stringContaining(`${fifo} is a FIFO, not a regular file`) })]));
    // The matching line raised its alert: the check was not stuck on the line before it.
    const alerts = await waitUntil(async () => {
      const { body } = await server.api<{ alerts: Array<{ deviceId: string; key: string }> }>('GET', '/alerts?open=true');
      return body.alerts.find((a) => a.deviceId === deviceId && a.key === 'monitoring/evil');
    }, 10_000, 'the log alert at the server');
    expect(alerts.key).toBe('monitoring/evil');
  });
});
