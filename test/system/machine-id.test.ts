// The machine id is read without a shell and without any child process on Linux, and never from the host name:
// node-machine-id ran `( cat ... || hostname ) | head` through /bin/sh, so a host without a machine-id file got
// its host name as identity and looked cloned after a rename.
import { ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { readMachineId } from '../../src/agent/identity.js';
import type { CommandRunner } from '../../src/system/exec.js';
import { createCommandRunner } from '../../src/system/exec.js';

const sha256 = (s: string) => createHash('sha256').update(s).digest('hex');
const ID = '0123456789abcdef0123456789abcdef';

function fixture(files: Record<string, string>): string {
  const root = mkdtempSync(path.join(tmpdir(), 'rmagent-machineid-'));
  for (const [rel, text] of Object.entries(files)) {
    mkdirSync(path.dirname(path.join(root, rel)), { recursive: true });
    writeFileSync(path.join(root, rel), text);
  }
  return root;
}

// Every child process Node starts (spawn, execFile, exec, fork) goes through ChildProcess.prototype.spawn
// (an internal method, absent from the typings).
type Spawn = (this: ChildProcess, options: { file?: string; args?: string[] }) => unknown;
const proto = ChildProcess.prototype as unknown as { spawn: Spawn };
const spawned: string[] = [];
const realSpawn = proto.spawn;
beforeEach(() => {
  spawned.length = 0;
  proto.spawn = function (options) {
    spawned.push([options.file, ...(options.args ?? [])].join(' '));
    return realSpawn.call(this, options);
  };
});
afterEach(() => {
  proto.spawn = realSpawn;
});

const linux = (root: string) => ({ platform: 'linux' as const, root, runner: createCommandRunner() });

describe('readMachineId on Linux', () => {
  it('hashes the D-Bus or systemd machine id as node-machine-id did (upgrades keep their identity), with no child process', async () => {
    // node-machine-id 1.1.12: sha256 hex of the first line, whitespace removed, lower-cased.
    expect(await readMachineId(undefined, linux(fixture({ 'etc/machine-id': `${ID.toUpperCase()}\n` })))).toBe(sha256(ID));
    const other = 'fedcba9876543210fedcba9876543210';
    expect(await readMachineId(undefined, linux(fixture({ 'var/lib/dbus/machine-id': `${other}\n`, 'etc/machine-id': `${ID}\n` })))).toBe(sha256(other));
    expect(spawned).toEqual([]);
  });

  it('falls back to the firmware UUID, never to the host name, and never starts a process', async () => {
    const uuid = '4c4c4544-0042-3510-8052-b3c04f4a4b32';
    const root = fixture({ 'etc/machine-id': 'uninitialized\n', 'sys/class/dmi/id/product_uuid': `${uuid.toUpperCase()}\n` });
    expect(await readMachineId(undefined, linux(root))).toBe(sha256(uuid));
    await expect(readMachineId(undefined, linux(fixture({})))).rejects.toMatchObject({ code: 'MACHINE_ID_UNAVAILABLE' });
    await expect(readMachineId(undefined, linux(fixture({})))).rejects.not.toMatchObject({ message: expect.stringContaining(hostname()) });
    expect(spawned).toEqual([]);
  });

  it('reads this machine without a child process (and the override wins)', async () => {
    expect(await readMachineId('forced')).toBe('forced');
    const id = await readMachineId();
    expect(id).toMatch(/^[0-9a-f]{64}$/);
    expect(await readMachineId()).toBe(id);
    expect(spawned).toEqual([]);
  });
});

describe('readMachineId on Windows and macOS', () => {
  const recording = (stdout: string): CommandRunner & { calls: Array<[string, readonly string[]]> } => {
    const calls: Array<[string, readonly string[]]> = [];
    return { calls, run: async (command, args) => { calls.push([command, args]); return { code: 0, stdout, stderr: '' }; } };
  };

  it('asks reg.exe by its full path (no shell, no PATH) for the 64-bit MachineGuid', async () => {
    const runner = recording('    MachineGuid    REG_SZ    6B29FC40-CA47-1067-B31D-00DD010662DA\r\n');
    expect(await readMachineId(undefined, { platform: 'win32', root: '/', runner, systemRoot: 'C:\\Windows' })).toBe(sha256('6b29fc40-ca47-1067-b31d-00dd010662da'));
    expect(runner.calls).toEqual([['C:\\Windows\\System32\\reg.exe', ['query', 'HKLM\\SOFTWARE\\Microsoft\\Cryptography', '/v', 'MachineGuid', '/reg:64']]]);
  });

  it('asks /usr/sbin/ioreg for IOPlatformUUID and refuses an answer without one', async () => {
    const runner = recording('"IOPlatformUUID" = "A1B2C3D4-E5F6-0718-293A-4B5C6D7E8F90"\n');
    expect(await readMachineId(undefined, { platform: 'darwin', root: '/', runner })).toBe(sha256('a1b2c3d4-e5f6-0718-293a-4b5c6d7e8f90'));
    expect(runner.calls).toEqual([['/usr/sbin/ioreg', ['-rd1', '-c', 'IOPlatformExpertDevice']]]);
    await expect(readMachineId(undefined, { platform: 'darwin', root: '/', runner: recording('') })).rejects.toMatchObject({ code: 'MACHINE_ID_UNAVAILABLE' });
  });
});
