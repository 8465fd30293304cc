// The IPC endpoint's start-up rules with real sockets: the Windows flow (random name, recorded only once owned,
// removed at stop, stale records refused) runs here over Unix sockets named like the pipes, through the same
// code; a squatted endpoint makes the agent refuse to start.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { requestLocal, serveLocal } from '../../src/system/local-socket.js';
import { AGENT_JS, assertBuilt } from '../e2e/harness.js';

const echo = async (request: unknown) => ({ echo: request });

describe('the local endpoint', () => {
  it('Windows flow: a fresh name each start, recorded only while held, and a client follows the record', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'rmagent-pipe-'));
    const record = path.join(dir, 'ipc-endpoint.json');
    const options = { platform: 'win32' as const, pipePrefix: `${dir}/` };
    const first = await serveLocal(record, echo, options);
    expect(JSON.parse(readFileSync(record, 'utf8'))).toEqual({ pipe: first.endpoint, pid: process.pid });
    expect(await requestLocal(record, { method: 'status' }, 2_000, options)).toEqual({ ok: true, value: { echo: { method: 'status' } } });
    await first.close();
    expect(existsSync(record)).toBe(false);
    expect(await requestLocal(record, { method: 'status' }, 2_000, options)).toMatchObject({ ok: false, reason: 'not-running' });
    const second = await serveLocal(record, echo, options);
    expect(second.endpoint).not.toBe(first.endpoint);
    await second.close();
  });

  it('Windows flow: a squatter on the name of a stale record (the agent crashed) is never asked', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'rmagent-pipe-'));
    const record = path.join(dir, 'ipc-endpoint.json');
    const options = { platform: 'win32' as const, pipePrefix: `${dir}/` };
    const dead = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' });
    const name = `${dir}/rmagent-${'ab'.repeat(16)}`;
    writeFileSync(record, JSON.stringify({ pipe: name, pid: Number(dead.stdout) }));
    const asked: net.Socket[] = [];
    const squatter = net.createServer((s) => { asked.push(s); s.end('{"status":{"health":"healthy"}}\n'); });
    await new Promise<void>((resolve) => squatter.listen(name, resolve));
    try {
      expect(await requestLocal(record, { method: 'status' }, 2_000, options)).toMatchObject({ ok: false, reason: 'not-running' });
      expect(asked).toHaveLength(0);
    } finally {
      for (const s of asked) s.destroy();
      await new Promise((r) => squatter.close(r));
    }
  });

  it('refuses to listen on an endpoint another process holds (IPC_ENDPOINT_TAKEN)', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'rmagent-sock-'));
    const socketPath = path.join(dir, 'rmagent.sock');
    // It never reads: a client that wrote to it (rmagent run first asks whether an agent answers) stays open on its
    // side until destroyed, so the clean-up below destroys what it accepted.
    const accepted = new Set<net.Socket>();
    const squatter = net.createServer((s) => { accepted.add(s); s.end(); });
    await new Promise<void>((resolve) => squatter.listen(socketPath, resolve));
    try {
      await expect(serveLocal(socketPath, echo)).rejects.toMatchObject({ code: 'IPC_ENDPOINT_TAKEN' });
    } finally {
      await new Promise((r) => squatter.close(r));
    }
  });

  it('the agent refuses to start, with a clear problem, when its endpoint is taken', async () => {
    assertBuilt();
    const dir = mkdtempSync(path.join(tmpdir(), 'rmagent-taken-'));
    const socketPath = path.join(dir, 'squatted.sock');
    writeFileSync(path.join(dir, 'config.json'), '{}\n');
    // It never reads: a client that wrote to it (rmagent run first asks whether an agent answers) stays open on its
    // side until destroyed, so the clean-up below destroys what it accepted.
    const accepted = new Set<net.Socket>();
    const squatter = net.createServer((s) => { accepted.add(s); s.end(); });
    await new Promise<void>((resolve) => squatter.listen(socketPath, resolve));
    try {
      const env = { ...process.env, RMAGENT_CONFIG: path.join(dir, 'config.json'), RMAGENT_STATE_DIR: path.join(dir, 'state'), RMAGENT_LOG_DIR: path.join(dir, 'logs'), RMAGENT_MACHINE_ID: 'm-taken', RMAGENT_IPC_PATH: socketPath, RMAGENT_TEAMVIEWER_ROOT: dir };
      const child = spawn(process.execPath, [AGENT_JS, 'run'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
      let stderr = '';
      child.stderr.setEncoding('utf8').on('data', (d: string) => { stderr += d; });
      const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
      const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
      clearTimeout(timer);
      expect(code).not.toBe(0);
      expect(code).not.toBeNull();
      expect(stderr).toMatch(/error IPC_ENDPOINT_TAKEN: .*already listening on .*squatted\.sock/);
    } finally {
      for (const s of accepted) s.destroy();
      await new Promise((r) => squatter.close(r));
    }
  }, 30_000);
});
