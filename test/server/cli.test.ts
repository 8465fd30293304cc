// The built `rmagent-server` as a child process: the listening line, a working API, clean exit on SIGTERM.
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { promisify } from 'node:util';
import { beforeAll, describe, expect, it } from 'vitest';
import { runNode, spawnNode, waitForEvent } from '../../src/cli/processes.js';
import type { RunningServer } from '../../src/server/server.js';
import { droppedMail } from './console-client.js';
import { enroll, tempDir } from './helpers.js';

const script = path.resolve('build/src/cli/rmagent-server.js');

beforeAll(async () => {
  // Others' unfinished files may make tsc report errors; it still emits, and this entry must exist.
  await promisify(execFile)('npm', ['run', 'build'], { timeout: 120_000 }).catch(() => undefined);
  expect(existsSync(script), 'npm run build did not produce the server entry').toBe(true);
}, 130_000);

describe('rmagent-server CLI', () => {
  it('prints the listening line, serves the API with the owner token, and exits 0 on SIGTERM', async () => {
    const dir = await tempDir();
    const proc = spawnNode(script, ['--listen', '127.0.0.1:0', '--data', dir, '--log-level', 'warn']);
    try {
      const line = await waitForEvent<{ httpUrl: string; agentUrl: string; port: number; data: string }>(proc, 'listening');
      expect(line.port).toBeGreaterThan(0);
      expect(line).toMatchObject({ httpUrl: `http://127.0.0.1:${line.port}`, agentUrl: `ws://127.0.0.1:${line.port}/agent`, data: dir });
      const token = (await readFile(path.join(dir, 'owner.token'), 'utf8')).trim();
      const me = await fetch(`${line.httpUrl}/api/v1/me`, { headers: { authorization: `Bearer ${token}` }, signal: AbortSignal.timeout(5000) });
      expect(((await me.json()) as { id: string }).id).toBe('acct-owner');
      expect(proc.output()).not.toContain(token);
    } finally {
      expect(await proc.stop('SIGTERM', 15_000)).toBe(0);
    }
  });

  it('exits 3 with SERVER_LISTEN_FAILED when the port is taken', async () => {
    const blocker = net.createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    try {
      const port = (blocker.address() as net.AddressInfo).port;
      const res = await runNode(script, ['--listen', `127.0.0.1:${port}`, '--data', await tempDir()]);
      expect(res.code).toBe(3);
      expect(res.stderr).toContain('SERVER_LISTEN_FAILED');
    } finally {
      blocker.close();
    }
  });

  it('exits 64 with CLI_USAGE on a bad --listen', async () => {
    const res = await runNode(script, ['--listen', 'nowhere', '--data', await tempDir()]);
    expect(res.code).toBe(64);
    expect(res.stderr).toContain('CLI_USAGE');
    // The fix names this program's help, not the agent's.
    expect(res.stderr).toContain('rmagent-server help');
    expect(res.stderr).not.toMatch(/`rmagent help`/);
  });

  it('says what a flag allows, in words (the entry installs zod/mini\'s English messages)', async () => {
    const res = await runNode(script, ['--listen', '127.0.0.1:0', '--data', await tempDir(), '--heartbeat-sec', '0']);
    expect(res.code).toBe(64);
    expect(res.stderr).toMatch(/--heartbeat-sec: too small: expected number to be >=1/i);
  });
});

describe('rmagent-server client commands', () => {
  it('licence issue writes the activation e-mail to DATA/mail/ and licence list shows it', async () => {
    const dir = await tempDir();
    const proc = spawnNode(script, ['--listen', '127.0.0.1:0', '--data', dir, '--log-level', 'warn']);
    try {
      await waitForEvent(proc, 'listening');
      const cli = (...args: string[]) => runNode(script, [...args, '--data', dir]);
      const issued = await cli('licence', 'issue', '--product', 'monitoring', '--seats', '25', '--email', 'buyer@example.com');
      expect(issued.code, issued.stderr).toBe(0);
      expect(issued.stdout).toMatch(/^licence lic-\w+: Monitoring, 25 device seats; activation e-mail sent to buyer@example.com/);
      const mail = await droppedMail(dir);
      expect(mail).toEqual([expect.objectContaining({ to: 'buyer@example.com', links: [expect.stringMatching(/\/console\/activate#key=rml_/)] })]);
      expect((await cli('licence', 'list')).stdout).toMatch(/Monitoring\s+25\s+buyer@example.com\s+- \(not activated\)/);
      expect((await cli('licence', 'issue', '--product', 'monitoring', '--seats', '0', '--email', 'b@example.com')).code).toBe(64);
    } finally {
      await proc.stop('SIGTERM');
    }
  });

  it('creates a token, lists devices, activates by tag, lists and acknowledges alerts against a running server', async () => {
    const dir = await tempDir();
    const proc = spawnNode(script, ['--listen', '127.0.0.1:0', '--data', dir, '--log-level', 'warn']);
    try {
      const line = await waitForEvent<{ httpUrl: string; agentUrl: string }>(proc, 'listening');
      const cli = (...args: string[]) => runNode(script, [...args, '--data', dir]);
      const created = await cli('token', 'create', '--max-uses', '2', '--expires-in', '2h', '--tag', 'kiosk', '--json');
      expect(created.code, created.stderr).toBe(0);
      const token = JSON.parse(created.stdout) as { token: string; maxUses: number; tags: string[]; expiresAt: number; createdAt: number };
      expect(token).toMatchObject({ maxUses: 2, tags: ['kiosk'] });
      expect(token.expiresAt - token.createdAt).toBe(7_200_000);
      const human = await cli('token', 'create');
      expect(human.stdout).toMatch(/^enr_\S+\nid enr-\S+, 1 use\(s\), expires /);

      const server = { agentUrl: line.agentUrl } as RunningServer;
      const agent = await enroll(server, token.token, 'kiosk-1');
      try {
        const listed = await cli('devices', 'list', '--tag', 'kiosk');
        expect(listed.code).toBe(0);
        expect(listed.stdout).toContain(agent.deviceId);
        expect(listed.stdout).toContain('kiosk-1 alias');
        const policy = await fetch(`${line.httpUrl}/api/v1/policies`, { method: 'POST', headers: { authorization: `Bearer ${(await readFile(path.join(dir, 'owner.token'), 'utf8')).trim()}`, 'content-type': 'application/json' }, body: JSON.stringify({ name: 'm', service: 'monitoring', settings: {} }) }).then((r) => r.json() as Promise<{ id: string }>);
        const activated = await cli('activate', 'monitoring', '--policy', policy.id, '--tag', 'kiosk', '--json');
        expect(activated.code, activated.stderr).toBe(0);
        expect(JSON.parse(activated.stdout).devices).toEqual([expect.objectContaining({ deviceId: agent.deviceId, online: true })]);
        await agent.next('service.install');
        agent.send('report', { seq: 1, kind: 'alert.raised', at: 1, data: { key: 'cpu', service: 'monitoring', check: 'cpu', severity: 'warning', message: 'hot' } });
        await agent.next('report.ack');
        const alerts = JSON.parse((await cli('alerts', 'list', '--open', '--json')).stdout) as { alerts: Array<{ id: string; hostname: string }> };
        expect(alerts.alerts).toEqual([expect.objectContaining({ hostname: 'kiosk-1' })]);
        const acked = await cli('alerts', 'ack', alerts.alerts[0]!.id);
        expect(acked.stdout).toContain(`acknowledged ${alerts.alerts[0]!.id}`);
        expect((await agent.next('alert.ack')).body.key).toBe('cpu');
      } finally {
        await agent.close();
      }
      // Errors: a usage error is 64, a refused call 3 with the server's code.
      expect((await cli('devices', 'delete', 'dev-nope')).code).toBe(64);
      const missing = await cli('devices', 'delete', 'dev-nope', '--yes');
      expect(missing.code).toBe(3);
      expect(missing.stderr).toContain('API_NOT_FOUND');
      expect((await cli('token', 'create', '--max-uses', 'many')).code).toBe(64);
      const noServer = await runNode(script, ['devices', 'list']);
      expect(noServer.code).toBe(64);
      expect(noServer.stderr).toContain('--url');
    } finally {
      expect(await proc.stop('SIGTERM', 15_000)).toBe(0);
    }
  });
});
