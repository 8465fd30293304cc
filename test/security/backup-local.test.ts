// Backup against a local user and against whoever can write the backup destination. The agent runs as root: a
// user owns the folders a policy backs up and the folders a restore writes to; a share or a disk may be written
// by others. Each test performs the attack through the Backup service's own commands, with real files, and
// checks what the attacker wanted did not happen. (Any rewrite of Backup must keep these passing.)
import { execFileSync, spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { chmodSync, chownSync, existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterEach, describe, expect, it } from 'vitest';
import { createBackupService } from '../../src/services/backup/service.js';
import { BUILT_RMAGENT } from '../services/backup/built-rmagent.js';
import { createHeavyJobScheduler } from '../../src/services/budget.js';
import { sealManifest, type Manifest } from '../../src/services/backup/manifest.js';
import { openStore, takeSnapshot } from '../../src/services/backup/snapshot.js';
import { loadManifestKey } from '../../src/services/backup/destination.js';
import { deriveKeys, Repository } from '../../src/services/backup/repo.js';
import { readRecord } from '../../src/services/backup/tree-snapshot.js';
import { decodeTree, encodeTree, sealRecord, type SnapshotRecord, type TreeEntry } from '../../src/services/backup/tree.js';
import { makeFrame, type BodyOf, type CommandType, type Frame } from '../../src/protocol/frames.js';
import type { Policy } from '../../src/protocol/model.js';
import type { RmService } from '../../src/agent/contracts.js';
import { serviceRuntime, tempDir } from '../services/budget/service-runtime.js';

type Cmd = Frame & { type: CommandType };
const OWNER = 'alice@example.com';
const policy = (settings: Record<string, unknown>): Policy => ({ id: 'backup-p', name: 'Backup', service: 'backup', version: 1, settings });
const run = () => makeFrame('backup.run', { deviceId: 'dev-1', actor: OWNER }) as Cmd;
const restore = (body: Omit<BodyOf<'backup.restore'>, 'deviceId' | 'actor'>) => makeFrame('backup.restore', { deviceId: 'dev-1', actor: OWNER, ...body }) as Cmd;
const install = () => makeFrame('service.install', { deviceId: 'dev-1', service: 'backup', policy: policy({}), actor: OWNER }) as Cmd;
const sha256 = (data: Uint8Array | string) => createHash('sha256').update(data).digest('hex');
const isRoot = process.getuid?.() === 0;

const cleanups: Array<() => Promise<void>> = [];
const services: RmService[] = [];
afterEach(async () => {
  for (const s of services.splice(0)) await s.stop();
  for (const c of cleanups.splice(0)) await c();
});

/** A Backup service (opted in to restores) over `dir/user` (the user's folder) into `dir/dest`. */
async function setup(files: Record<string, string | Buffer> = { 'notes.md': '# notes\n' }, settings: Record<string, unknown> = {}) {
  const { dir, cleanup } = await tempDir('backup-attack');
  cleanups.push(cleanup);
  const user = path.join(dir, 'user');
  const dest = path.join(dir, 'dest');
  for (const [rel, content] of Object.entries(files)) {
    mkdirSync(path.dirname(path.join(user, rel)), { recursive: true });
    writeFileSync(path.join(user, rel), content);
  }
  mkdirSync(user, { recursive: true });
  const stateDir = path.join(dir, 'state', 'services', 'backup');
  const { runtime, reports, clock } = serviceRuntime(stateDir);
  const service = createBackupService({ scheduler: createHeavyJobScheduler({ clock, random: () => 0 }), tickMs: 3_600_000, self: BUILT_RMAGENT })(runtime);
  services.push(service);
  await service.install();
  writeFileSync(path.join(dir, 'state', 'allow-changes'), '');
  expect(await service.handleCommand!(install())).toBeUndefined();
  await service.apply(policy({}), { folders: [user], destination: dest, ...settings });
  const snapshotIds = () => reports.filter((r) => r.data.event === 'snapshot' && r.data.snapshot).map((r) => r.data.snapshot as string);
  const key = () => Buffer.from(readFileSync(path.join(stateDir, 'manifest.key'), 'utf8').trim(), 'hex');
  return { service, reports, clock, dir, user, dest, stateDir, snapshotIds, key };
}

/** Every file name and content hash under `dir` (for "nothing changed here"). */
function listing(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string, rel: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const r = rel ? `${rel}/${e.name}` : e.name;
      if (e.isDirectory()) walk(path.join(d, e.name), r);
      else out.push(`${r} ${e.isSymbolicLink() ? 'link' : sha256(readFileSync(path.join(d, e.name)))}`);
    }
  };
  walk(dir, '');
  return out.sort();
}

/** The manifest a snapshot wrote (its body, after the seal line). */
function manifestOf(dest: string, id: string): Manifest {
  const text = readFileSync(path.join(dest, 'snapshots', `${id}.json`), 'utf8');
  return JSON.parse(text.slice(text.indexOf('\n') + 1)) as Manifest;
}

/** Stores `content` as a chunk the way the agent does (what someone who can write the destination can do too). */
function plantChunk(dest: string, content: Buffer): string {
  const hash = sha256(content);
  mkdirSync(path.join(dest, 'chunks', hash.slice(0, 2)), { recursive: true });
  writeFileSync(path.join(dest, 'chunks', hash.slice(0, 2), `${hash}.gz`), gzipSync(content));
  return hash;
}

/**
 * A snapshot in the format earlier agents wrote (chunks/ + snapshots/<id>.json), recorded as the agent's last one:
 * restores of such snapshots still go through their own checks (manifest.ts, restore.ts).
 */
async function legacySnapshot(ctx: { user: string; dest: string; stateDir: string; key: () => Buffer }, id = `legacy-${Date.now()}`): Promise<string> {
  mkdirSync(ctx.dest, { recursive: true, mode: 0o700 });
  await loadManifestKey(ctx.stateDir); // what the agent's first job creates
  await takeSnapshot(openStore(ctx.dest, ctx.key()), { folders: [ctx.user], exclude: [], actor: OWNER, now: Date.now, id }, null);
  const stateFile = path.join(ctx.stateDir, 'backup.json');
  const state = JSON.parse(readFileSync(stateFile, 'utf8')) as Record<string, unknown>;
  writeFileSync(stateFile, JSON.stringify({ ...state, lastRunAt: Date.now(), lastSnapshot: id }));
  return id;
}

/** Every file of a format-3 snapshot with its sha256, read the way a restore reads it. */
async function filesOf(dest: string, key: Buffer, id: string): Promise<Array<{ path: string; sha256: string }>> {
  const repo = await Repository.open(dest, key);
  const record = await readRecord(repo, id);
  const out: Array<{ path: string; sha256: string }> = [];
  const visit = async (tree: string, rel: string): Promise<void> => {
    for (const e of decodeTree(await repo.read(tree)).entries) {
      const p = rel ? `${rel}/${e.name}` : e.name;
      if (e.type === 'dir') await visit(e.tree!, p);
      else if (e.type === 'file') out.push({ path: p, sha256: e.sha256! });
    }
  };
  for (const f of record.folders) await visit(f.tree, f.name);
  return out;
}

describe('restore writes only where it should', () => {
  it('a link planted at a restored name, or at the temp name the old code predicted, is never written through', async () => {
    const { service, dir, user } = await setup({ 'notes.md': 'the user text\n' });
    expect(await service.handleCommand!(run())).toEqual({ status: 'done' });
    const victim = path.join(dir, 'shadow');
    writeFileSync(victim, 'root:$6$hash\n', { mode: 0o600 });
    // Restore in place into the user's folder, where the user planted links first.
    symlinkSync(victim, path.join(user, 'notes.md.tmp-planted'));
    for (const name of ['notes.md', `.notes.md.restore-${process.pid}.tmp`]) {
      execFileSync('rm', ['-f', path.join(user, name)]);
      symlinkSync(victim, path.join(user, name));
    }
    expect(await service.handleCommand!(restore({}))).toEqual({ status: 'done' });
    expect(readFileSync(victim, 'utf8')).toBe('root:$6$hash\n');
    expect(statSync(victim).mode & 0o7777).toBe(0o600);
    expect(lstatSync(path.join(user, 'notes.md')).isFile()).toBe(true);
    expect(readFileSync(path.join(user, 'notes.md'), 'utf8')).toBe('the user text\n');
  });

  it('setuid and setgid bits are not restored', async () => {
    const { service, dir, user } = await setup({ 'tool': '#!/bin/sh\nid\n' });
    chmodSync(path.join(user, 'tool'), 0o6755);
    expect(await service.handleCommand!(run())).toEqual({ status: 'done' });
    const target = path.join(dir, 'restored');
    expect(await service.handleCommand!(restore({ target }))).toEqual({ status: 'done' });
    expect(statSync(path.join(target, 'tool')).mode & 0o7777).toBe(0o755);
  });

  it('folders a restore creates get their recorded permission bits, never setgid or sticky', async () => {
    const { service, dir, user } = await setup({ 'private/diary.txt': 'dear diary\n' });
    chmodSync(path.join(user, 'private'), 0o3750);
    expect(await service.handleCommand!(run())).toEqual({ status: 'done' });
    const target = path.join(dir, 'restored');
    expect(await service.handleCommand!(restore({ target }))).toEqual({ status: 'done' });
    expect(statSync(path.join(target, 'private')).mode & 0o7777).toBe(0o750);
  });

  it('folders a restore of an old-format snapshot creates are 0700 (its manifest does not know the originals)', async () => {
    const ctx = await setup({ 'private/diary.txt': 'dear diary\n' });
    const id = await legacySnapshot(ctx);
    const target = path.join(ctx.dir, 'restored');
    expect(await ctx.service.handleCommand!(restore({ snapshot: id, target }))).toEqual({ status: 'done' });
    expect(statSync(path.join(target, 'private')).mode & 0o777).toBe(0o700);
  });
});

describe('an old-format manifest at the destination is untrusted input', () => {
  it('a planted manifest (not sealed by this device) is refused, even with a huge createdAt', async () => {
    const ctx = await setup({ 'notes.md': 'real notes\n' });
    const { service, dest, dir } = ctx;
    const real = manifestOf(dest, await legacySnapshot(ctx));
    const evil = Buffer.from('attacker text\n');
    const forged: Manifest = { ...real, id: 'zzz-planted', createdAt: 8_000_000_000_000_000, files: [{ ...real.files[0]!, sha256: sha256(evil), size: evil.length, chunks: [plantChunk(dest, evil)] }] };
    writeFileSync(path.join(dest, 'snapshots', 'zzz-planted.json'), JSON.stringify(forged));
    const target = path.join(dir, 'restored');
    expect(await service.handleCommand!(restore({ target }))).toEqual({ status: 'done' });
    expect(readFileSync(path.join(target, 'notes.md'), 'utf8')).toBe('real notes\n');
    expect(await service.handleCommand!(restore({ snapshot: 'zzz-planted', target: path.join(dir, 'r2') }))).toMatchObject({ status: 'rejected', reason: { code: 'BACKUP_MANIFEST_UNTRUSTED' } });
    expect(existsSync(path.join(dir, 'r2'))).toBe(false);
  });

  it('even a manifest sealed with the device key does not become "latest" by claiming a later createdAt', async () => {
    const ctx = await setup({ 'notes.md': 'real notes\n' });
    const { service, dest, dir, key } = ctx;
    const real = manifestOf(dest, await legacySnapshot(ctx));
    const evil = Buffer.from('attacker text\n');
    const forged: Manifest = { ...real, id: 'zzz-future', createdAt: 8_000_000_000_000_000, files: [{ ...real.files[0]!, sha256: sha256(evil), size: evil.length, chunks: [plantChunk(dest, evil)] }] };
    writeFileSync(path.join(dest, 'snapshots', 'zzz-future.json'), sealManifest(key(), forged));
    const target = path.join(dir, 'restored');
    expect(await service.handleCommand!(restore({ target }))).toEqual({ status: 'done' });
    expect(readFileSync(path.join(target, 'notes.md'), 'utf8')).toBe('real notes\n');
  });

  it('a folder named ".." cannot escape the restore target, sealed or not', async () => {
    const ctx = await setup({ 'notes.md': 'n\n' });
    const { service, dest, dir, key } = ctx;
    const real = manifestOf(dest, await legacySnapshot(ctx));
    // Two folders, so each is restored under target/<name>: a name of '..' would land beside the target.
    const forged: Manifest = { ...real, id: 'escape', folders: [{ path: '/x', name: 'fine' }, { path: '/y', name: '..' }], files: [{ ...real.files[0]!, folder: 1, path: 'escaped.md' }] };
    writeFileSync(path.join(dest, 'snapshots', 'escape.json'), sealManifest(key(), forged));
    const target = path.join(dir, 'out', 'target');
    const outcome = await service.handleCommand!(restore({ snapshot: 'escape', target }));
    expect(outcome?.status).toBe('rejected');
    expect(existsSync(path.join(dir, 'out'))).toBe(false);
    // The same manifest with a file path climbing out.
    const climbing: Manifest = { ...real, id: 'climb', files: [{ ...real.files[0]!, path: '../../climbed.md' }] };
    writeFileSync(path.join(dest, 'snapshots', 'climb.json'), sealManifest(key(), climbing));
    expect((await service.handleCommand!(restore({ snapshot: 'climb', target })))?.status).toBe('rejected');
    expect(existsSync(path.join(dir, 'climbed.md'))).toBe(false);
  });

  it('folders[].path does not choose where a restore writes: only a folder of the current policy is restored in place', async () => {
    const ctx = await setup({ 'notes.md': 'n\n' });
    const { service, dest, dir, key } = ctx;
    const etc = path.join(dir, 'etc');
    mkdirSync(etc);
    const real = manifestOf(dest, await legacySnapshot(ctx));
    const evil = Buffer.from('* * * * * root sh -c evil\n');
    const forged: Manifest = { ...real, id: 'elsewhere', folders: [{ path: etc, name: 'etc' }], files: [{ ...real.files[0]!, path: 'cron-job', sha256: sha256(evil), size: evil.length, chunks: [plantChunk(dest, evil)] }] };
    writeFileSync(path.join(dest, 'snapshots', 'elsewhere.json'), sealManifest(key(), forged));
    expect(await service.handleCommand!(restore({ snapshot: 'elsewhere' }))).toMatchObject({ status: 'rejected', reason: { code: 'BACKUP_UNSAFE_PATH' } });
    expect(readdirSync(etc)).toEqual([]);
  });
});

describe('a snapshot record or tree at the destination is untrusted input', () => {
  const macKey = (key: Buffer) => deriveKeys(key).mac;
  it('a planted record (not sealed by this device) is refused, never becomes latest, and pauses pruning visibly', async () => {
    const { service, dest, dir, snapshotIds, user } = await setup({ 'notes.md': 'real notes\n' });
    expect(await service.handleCommand!(run())).toEqual({ status: 'done' });
    const real = readFileSync(path.join(dest, 'snaps', snapshotIds()[0]!), 'utf8');
    const body = JSON.parse(real.slice(real.indexOf('\n') + 1)) as SnapshotRecord;
    writeFileSync(path.join(dest, 'snaps', 'zzz-planted'), JSON.stringify({ ...body, id: 'zzz-planted', createdAt: 8_000_000_000_000_000 }));
    const target = path.join(dir, 'restored');
    expect(await service.handleCommand!(restore({ target }))).toEqual({ status: 'done' });
    expect(readFileSync(path.join(target, 'notes.md'), 'utf8')).toBe('real notes\n');
    expect(await service.handleCommand!(restore({ snapshot: 'zzz-planted', target: path.join(dir, 'r2') }))).toMatchObject({ status: 'rejected', reason: { code: 'BACKUP_MANIFEST_UNTRUSTED' } });
    expect(existsSync(path.join(dir, 'r2'))).toBe(false);
    writeFileSync(path.join(user, 'notes.md'), 'changed\n');
    expect(await service.handleCommand!(run())).toEqual({ status: 'done' });
    expect(service.problems()).toEqual([expect.objectContaining({ code: 'BACKUP_MANIFEST_UNTRUSTED' })]);
  });

  it('a record sealed with the device key cannot name a folder "..", restore outside the policy\'s folders, or carry a tree entry that climbs out', async () => {
    const { service, dest, dir, snapshotIds, key } = await setup({ 'notes.md': 'n\n' });
    expect(await service.handleCommand!(run())).toEqual({ status: 'done' });
    const text = readFileSync(path.join(dest, 'snaps', snapshotIds()[0]!), 'utf8');
    const real = JSON.parse(text.slice(text.indexOf('\n') + 1)) as SnapshotRecord;
    const mac = macKey(key());
    const plant = (record: SnapshotRecord) => writeFileSync(path.join(dest, 'snaps', record.id), sealRecord(mac, record));
    plant({ ...real, id: 'escape', folders: [{ ...real.folders[0]!, name: 'fine' }, { ...real.folders[0]!, path: '/y', name: '..' }] });
    const target = path.join(dir, 'out', 'target');
    expect(await service.handleCommand!(restore({ snapshot: 'escape', target }))).toMatchObject({ status: 'rejected', reason: { code: 'BACKUP_MANIFEST_UNTRUSTED' } });
    expect(existsSync(path.join(dir, 'out'))).toBe(false);
    const etc = path.join(dir, 'etc');
    mkdirSync(etc);
    plant({ ...real, id: 'elsewhere', folders: [{ ...real.folders[0]!, path: etc, name: 'etc' }] });
    expect(await service.handleCommand!(restore({ snapshot: 'elsewhere' }))).toMatchObject({ status: 'rejected', reason: { code: 'BACKUP_UNSAFE_PATH' } });
    expect(readdirSync(etc)).toEqual([]);
    // A tree whose entry is named "..", stored the way the agent stores trees (so only its content is wrong).
    const repo = await Repository.open(dest, key());
    const good = decodeTree(await repo.read(real.folders[0]!.tree)).entries[0]!;
    const climbing = encodeTree([{ ...good, name: '..' } as TreeEntry]);
    const id = sha256(climbing);
    await repo.add('tree', id, climbing);
    await repo.commit();
    plant({ ...real, id: 'climb', folders: [{ ...real.folders[0]!, tree: id }] });
    expect((await service.handleCommand!(restore({ snapshot: 'climb', target })))?.status).toBe('rejected');
    expect(existsSync(path.join(dir, 'out'))).toBe(false);
  });
});

describe('reading what the policy backs up', () => {
  it('a file swapped for a link (to the agent key) or a FIFO, a folder swapped for a link, between walk and read: never read, never hangs', async () => {
    const filler: Record<string, string> = {};
    for (let i = 0; i < 100; i++) filler[`filler/f${String(i).padStart(3, '0')}.txt`] = `filler ${i}\n`.repeat(50);
    const { service, dest, dir, user, clock, snapshotIds, key } = await setup({ ...filler, 'a.txt': 'user a\n', 'b.txt': 'user b\n', 'sub/device.key': 'user sub key\n' }, { verify: false, retention: { keep: 100 } });
    const secretDir = path.join(dir, 'agent-state');
    mkdirSync(secretDir, { mode: 0o700 });
    const secret = randomBytes(48).toString('base64');
    writeFileSync(path.join(secretDir, 'device.key'), secret, { mode: 0o600 });
    execFileSync('mkfifo', [path.join(user, '.b.fifo')]);
    // The user's side: a tight loop swapping the three names, bounded in count and time, in its own process.
    const swapper = `
      const fs = require('fs'); const p = require('path');
      const [user, secretDir] = process.argv.slice(1);
      const j = (n) => p.join(user, n);
      const tryDo = (f) => { try { f(); } catch {} };
      const end = Date.now() + 8000;
      for (let n = 0; n < 400000 && Date.now() < end; n++) {
        tryDo(() => { fs.symlinkSync(p.join(secretDir, 'device.key'), j('.a.link')); fs.renameSync(j('.a.link'), j('a.txt')); });
        tryDo(() => { fs.writeFileSync(j('.a.new'), 'user a\\n'); fs.renameSync(j('.a.new'), j('a.txt')); });
        tryDo(() => fs.renameSync(j('.b.fifo'), j('b.txt')));
        tryDo(() => { fs.renameSync(j('b.txt'), j('.b.fifo')); fs.writeFileSync(j('.b.new'), 'user b ' + n + '\\n'); fs.renameSync(j('.b.new'), j('b.txt')); });
        tryDo(() => { fs.renameSync(j('sub'), j('.sub.real')); fs.symlinkSync(secretDir, j('.sub.link')); fs.renameSync(j('.sub.link'), j('sub')); });
        tryDo(() => { fs.unlinkSync(j('sub')); fs.renameSync(j('.sub.real'), j('sub')); fs.writeFileSync(j('sub/device.key'), 'user sub key ' + n + '\\n'); });
      }`;
    const child = spawn(process.execPath, ['-e', swapper, user, secretDir], { stdio: 'ignore' });
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    try {
      for (let i = 0; i < 30 && child.exitCode === null; i++) {
        clock.advance(60_000);
        const outcome = await Promise.race([service.handleCommand!(run()), new Promise((resolve) => setTimeout(() => resolve('hung'), 20_000))]);
        expect(outcome, `run ${i}`).toEqual({ status: 'done' });
      }
    } finally {
      child.kill('SIGKILL');
      await exited;
    }
    expect(snapshotIds().length).toBeGreaterThan(1);
    const secretHash = sha256(secret);
    for (const id of snapshotIds()) {
      expect((await filesOf(dest, key(), id)).filter((f) => f.sha256 === secretHash).map((f) => f.path), `snapshot ${id}`).toEqual([]);
    }
    expect((await Repository.open(dest, key())).location(secretHash)).toBeUndefined();
    expect(key().length).toBe(32);
  }, 120_000);
});

describe.skipIf(!isRoot)('the destination must be private to the agent (as root)', () => {
  it('refuses a destination others can write or own, or reached through their link, writing nothing there', async () => {
    const { service, dir, clock } = await setup({ 'notes.md': 'n\n' });
    const open = path.join(dir, 'open');
    mkdirSync(open);
    chmodSync(open, 0o777);
    const theirs = path.join(dir, 'theirs');
    mkdirSync(theirs, { mode: 0o700 });
    chownSync(theirs, 65534, 65534);
    const home = path.join(dir, 'home');
    mkdirSync(home);
    chownSync(home, 65534, 65534);
    mkdirSync(path.join(dir, 'real-dest'), { mode: 0o700 });
    symlinkSync(path.join(dir, 'real-dest'), path.join(home, 'backups'));
    for (const destination of [open, path.join(open, 'inside'), theirs, path.join(home, 'backups')]) {
      await service.apply(policy({}), { folders: [path.join(dir, 'user')], destination });
      clock.advance(60_000);
      expect(await service.handleCommand!(run()), destination).toMatchObject({ status: 'rejected', reason: { code: 'BACKUP_DESTINATION_UNSAFE' } });
    }
    expect(readdirSync(open)).toEqual([]);
    expect(readdirSync(theirs)).toEqual([]);
    expect(readdirSync(path.join(dir, 'real-dest'))).toEqual([]);
    expect(listing(path.join(dir, 'user'))).toHaveLength(1);
  });
});
