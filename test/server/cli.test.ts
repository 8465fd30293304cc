// The built `rmagent-server` as a child process: the listening line, a working API, clean exit on SIGTERM.
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { promisify } from 'node:util';
import { beforeAll, describe, expect, it } from 'vitest';
import { runNode, spawnNode, waitForEvent } from '../../src/cli/processes.js';
import { tempDir } from './helpers.js';

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
  });

  it('says what a flag allows, in words (the entry installs zod/mini\'s English messages)', async () => {
    const res = await runNode(script, ['--listen', '127.0.0.1:0', '--data', await tempDir(), '--heartbeat-sec', '0']);
    expect(res.code).toBe(64);
    expect(res.stderr).toMatch(/--heartbeat-sec: too small: expected number to be >=1/i);
  });
});
