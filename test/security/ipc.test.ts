import { mkdtempSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { afterAll, describe, expect, it } from 'vitest';
import { createTally, heapMb } from './hostile.js';
import { runIpcProperties, startIpcServer } from './ipc-props.js';

const tally = createTally('security (fast): IPC');
afterAll(() => tally.print());

describe('IPC endpoint under hostile callers (fast subset)', () => {
  it('answers each caller with one JSON line or closes; stays up under floods; memory bounded', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'rm-ipc-'));
    const before = heapMb();
    await runIpcProperties(300, tally, path.join(dir, 'a.sock'), { floodConnections: 200, hugeBytes: 4 * 1024 * 1024 });
    expect(heapMb() - before).toBeLessThan(150);
  });

  it.runIf(process.platform !== 'win32' && process.getuid?.() === 0)('refuses a caller from another account (socket 0600)', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'rm-ipc-'));
    const socketPath = path.join(dir, 'b.sock');
    const server = await startIpcServer(socketPath);
    try {
      expect(statSync(socketPath).mode & 0o777).toBe(0o600);
      // `nobody` may reach the folder (mkdtemp makes it 0700 for root; open it up to prove the socket mode alone refuses).
      spawnSync('chmod', ['755', dir]);
      const script = `require('net').connect(${JSON.stringify(socketPath)}).on('connect',()=>{console.log('connected');process.exit(0)}).on('error',(e)=>{console.log(e.code);process.exit(0)})`;
      const r = spawnSync(process.execPath, ['-e', script], { uid: 65534, gid: 65534, encoding: 'utf8', timeout: 10_000 });
      expect(r.stdout.trim()).toBe('EACCES');
    } finally {
      await server.close();
    }
  });
});
