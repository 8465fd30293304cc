// What an admin expects a restore to give back: the same content (diff -r) and the same kinds of entries with
// their permission bits, owners (as root), mtimes, link targets, hard links, sparseness and FIFOs; what a backup
// cannot take (a socket) is listed with its path, not only counted.
import { afterEach, describe, expect, it } from 'vitest';
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, chownSync, closeSync, linkSync, lstatSync, mkdirSync, openSync, readdirSync, readFileSync, readlinkSync, symlinkSync, utimesSync, writeFileSync, writeSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { createBackupService } from '../../../src/services/backup/service.js';
import { createHeavyJobScheduler } from '../../../src/services/budget.js';
import { makeFrame, type CommandType, type Frame } from '../../../src/protocol/frames.js';
import type { Policy } from '../../../src/protocol/model.js';
import type { RmService } from '../../../src/agent/contracts.js';
import { serviceRuntime, tempDir } from '../budget/service-runtime.js';
import { BUILT_RMAGENT } from './built-rmagent.js';

type Cmd = Frame & { type: CommandType };
const OWNER = 'alice@example.com';
const isRoot = process.getuid?.() === 0;
const policy: Policy = { id: 'backup-p', name: 'Backup', service: 'backup', version: 1, settings: {} };

const cleanups: Array<() => Promise<void>> = [];
const services: RmService[] = [];
const servers: net.Server[] = [];
afterEach(async () => {
  for (const s of servers.splice(0)) s.close();
  for (const s of services.splice(0)) await s.stop();
  for (const c of cleanups.splice(0)) await c();
});

/** type, permission bits, owner, mtime (ms), link target, sparseness of every entry; hard links as groups. */
function describeTree(root: string): { entries: Record<string, string>; links: string[][] } {
  const entries: Record<string, string> = {};
  const byInode = new Map<bigint, string[]>();
  const walk = (rel: string) => {
    const p = path.join(root, rel);
    const st = lstatSync(p, { bigint: true });
    const type = st.isDirectory() ? 'dir' : st.isSymbolicLink() ? 'symlink' : st.isFIFO() ? 'fifo' : st.isFile() ? 'file' : 'other';
    const sparse = st.isFile() && st.blocks * 512n < st.size ? ' sparse' : '';
    const target = st.isSymbolicLink() ? ` -> ${readlinkSync(p)}` : '';
    const mode = st.isSymbolicLink() ? '' : ` ${(st.mode & 0o7777n).toString(8)}`;
    entries[rel || '.'] = `${type}${mode} ${st.uid}:${st.gid} ${st.mtimeMs}${target}${sparse}`;
    if (st.isFile() && st.nlink > 1n) byInode.set(st.ino, [...(byInode.get(st.ino) ?? []), rel]);
    if (st.isDirectory()) for (const n of readdirSync(p).sort()) walk(rel ? `${rel}/${n}` : n);
  };
  walk('');
  return { entries, links: [...byInode.values()].map((l) => l.sort()).sort() };
}

describe('Backup fidelity', () => {
  it('a restore compares equal: diff -r, modes, owners, mtimes, links, hard links, sparseness, FIFOs; a socket is listed as skipped', async () => {
    const { dir, cleanup } = await tempDir('backup-fidelity');
    cleanups.push(cleanup);
    const data = path.join(dir, 'data');
    mkdirSync(path.join(data, 'sub', 'deeper'), { recursive: true });
    writeFileSync(path.join(data, 'plain.txt'), 'plain\n'.repeat(1000));
    writeFileSync(path.join(data, 'sub', 'tool.sh'), '#!/bin/sh\n');
    chmodSync(path.join(data, 'sub', 'tool.sh'), 0o751);
    writeFileSync(path.join(data, 'sub', 'deeper', 'private'), 'secret\n');
    chmodSync(path.join(data, 'sub', 'deeper', 'private'), 0o600);
    chmodSync(path.join(data, 'sub', 'deeper'), 0o710);
    if (isRoot) chownSync(path.join(data, 'sub', 'deeper', 'private'), 1234, 2345);
    linkSync(path.join(data, 'plain.txt'), path.join(data, 'sub', 'hard-link.txt'));
    symlinkSync('../plain.txt', path.join(data, 'sub', 'relative-link'));
    symlinkSync('/nowhere/at/all', path.join(data, 'dangling-link'));
    execFileSync('mkfifo', [path.join(data, 'pipe')]);
    const sparse = openSync(path.join(data, 'disk.img'), 'w');
    writeSync(sparse, Buffer.alloc(8192, 7), 0, 8192, 3 * 1024 * 1024);
    writeSync(sparse, Buffer.from('end'), 0, 3, 6 * 1024 * 1024);
    closeSync(sparse);
    // Several compressed chunks in a row (each decoded into the buffer the restore reuses), and zeros written out in
    // full: two identical 8 MiB chunks in a row (decoded once), then a shorter one.
    writeFileSync(path.join(data, 'service.log'), Array.from({ length: 90_000 }, (_, i) => `${i} request ${(i * 7919) % 100_003} took ${i % 97} ms\n`).join(''));
    writeFileSync(path.join(data, 'zeros.bin'), Buffer.concat([Buffer.from('head'), Buffer.alloc(20 * 1024 * 1024), Buffer.from('tail')]));
    const socketPath = path.join(data, 'daemon.sock');
    const server = net.createServer().listen(socketPath);
    servers.push(server);
    await new Promise((r) => server.once('listening', r));
    utimesSync(path.join(data, 'plain.txt'), new Date('2020-02-03T04:05:06.789Z'), new Date('2020-02-03T04:05:06.789Z'));
    // A time to the nanosecond (touch; Node sets times from a double) whose nearest double lies below it:
    // Number(ns) / 1e9 restored it a millisecond early.
    writeFileSync(path.join(data, 'generated.bin'), 'compiled\n');
    execFileSync('touch', ['-m', '-d', '@1796236081.785000000', path.join(data, 'generated.bin')]);
    expect(lstatSync(path.join(data, 'generated.bin'), { bigint: true }).mtimeNs).toBe(1796236081785000000n);
    utimesSync(path.join(data, 'sub'), new Date('2021-01-01T00:00:00Z'), new Date('2021-01-01T00:00:00Z'));
    expect(lstatSync(path.join(data, 'disk.img')).blocks * 512).toBeLessThan(lstatSync(path.join(data, 'disk.img')).size);

    const { runtime, reports, clock } = serviceRuntime(path.join(dir, 'state', 'services', 'backup'));
    const service = createBackupService({ scheduler: createHeavyJobScheduler({ clock, random: () => 0 }), tickMs: 3_600_000, self: BUILT_RMAGENT })(runtime);
    services.push(service);
    await service.install();
    writeFileSync(path.join(dir, 'state', 'allow-changes'), '');
    await service.handleCommand!(makeFrame('service.install', { deviceId: 'd', service: 'backup', policy, actor: OWNER }) as Cmd);
    await service.apply(policy, { folders: [data], destination: path.join(dir, 'dest') });
    expect(await service.handleCommand!(makeFrame('backup.run', { deviceId: 'd', actor: OWNER }) as Cmd)).toEqual({ status: 'done' });
    const snapshot = reports.find((r) => r.data.event === 'snapshot')!.data;
    expect(snapshot.skipped).toBe(1);
    expect(snapshot.skippedPaths).toEqual([{ path: socketPath, reason: 'socket' }]);

    const source = describeTree(data); // before the socket goes (its removal changes the folder's mtime)
    delete source.entries['daemon.sock'];
    server.close();
    const target = path.join(dir, 'restored');
    expect(await service.handleCommand!(makeFrame('backup.restore', { deviceId: 'd', actor: OWNER, target }) as Cmd)).toEqual({ status: 'done' });
    const diff = spawnSync('diff', ['-r', '--no-dereference', '-x', 'pipe', '-x', 'daemon.sock', data, target], { encoding: 'utf8' });
    expect(diff.stdout + diff.stderr).toBe('');
    expect(diff.status).toBe(0);
    const restored = describeTree(target);
    expect(restored.entries).toEqual(source.entries);
    expect(restored.links).toEqual([['plain.txt', 'sub/hard-link.txt']]);
    expect(readFileSync(path.join(target, 'disk.img')).subarray(3 * 1024 * 1024, 3 * 1024 * 1024 + 4)).toEqual(Buffer.alloc(4, 7));
  });
});
