// A careless admin restores INTO the backup destination (review 4, finding 5): "restore alice's ~/.ssh onto the
// backup disk so I can look at it". Before the fix the service only checked that the target was absolute: the
// snapshot's `config` file was renamed over the repository's own `config` (the repository then failed with
// BACKUP_MANIFEST_UNTRUSTED) and the restore gave the destination folder alice's owner and bits. The same holds
// for a target inside the destination (a snapshot file named like a pack or an index lands on it), for a folder
// holding it (`/` included), for a link to it, and for the agent's state folder (its keys). Each attempt here goes
// through the Backup service's own command (refused before a job starts) and through a job file handed straight to
// the job (the job checks again: the job file is what it trusts). Needs `npm run build` (the positive control runs
// a real backup job).
import { chmodSync, chownSync, existsSync, mkdirSync, readdirSync, readFileSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createBackupService } from '../../src/services/backup/service.js';
import { BUILT_RMAGENT } from '../services/backup/built-rmagent.js';
import { createHeavyJobScheduler } from '../../src/services/budget.js';
import { loadManifestKey, openDestination } from '../../src/services/backup/destination.js';
import { Repository } from '../../src/services/backup/repo.js';
import { listRecords, takeTreeSnapshot } from '../../src/services/backup/tree-snapshot.js';
import { runJobFile } from '../../src/services/backup/job.js';
import { isSameOrInside } from '../../src/services/backup/restore-target.js';
import { makeFrame, type BodyOf, type CommandType, type Frame } from '../../src/protocol/frames.js';
import type { Policy } from '../../src/protocol/model.js';
import type { RmService } from '../../src/agent/contracts.js';
import { serviceRuntime, tempDir } from '../services/budget/service-runtime.js';

type Cmd = Frame & { type: CommandType };
const OWNER = 'admin@example.com';
const isRoot = process.getuid?.() === 0;
const policy = (settings: Record<string, unknown>): Policy => ({ id: 'backup-p', name: 'Backup', service: 'backup', version: 1, settings });
const restore = (body: Omit<BodyOf<'backup.restore'>, 'deviceId' | 'actor'>) => makeFrame('backup.restore', { deviceId: 'dev-1', actor: OWNER, ...body }) as Cmd;
const install = () => makeFrame('service.install', { deviceId: 'dev-1', service: 'backup', policy: policy({}), actor: OWNER }) as Cmd;

const cleanups: Array<() => Promise<void>> = [];
const services: RmService[] = [];
afterEach(async () => {
  for (const s of services.splice(0)) await s.stop();
  for (const c of cleanups.splice(0)) await c();
});

/** Every file under `dir` with its content hash, owner and mode (for "nothing changed here"). */
function listing(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string, rel: string) => {
    const s = statSync(d);
    out.push(`${rel || '.'}/ ${s.uid} ${(s.mode & 0o7777).toString(8)}`);
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p, rel ? `${rel}/${e.name}` : e.name);
      else out.push(`${rel ? `${rel}/` : ''}${e.name} ${createHash('sha256').update(readFileSync(p)).digest('hex')}`);
    }
  };
  walk(dir, '');
  return out.sort();
}

/** alice's ~/.ssh backed up (in process, with the service's own key) into `dest` by a Backup service opted in to restores. */
async function setup() {
  const { dir, cleanup } = await tempDir('backup-restore-target');
  cleanups.push(cleanup);
  const ssh = path.join(dir, 'home', 'alice', '.ssh');
  mkdirSync(ssh, { recursive: true });
  writeFileSync(path.join(ssh, 'config'), 'Host work\n  HostName 10.0.0.1\n');
  writeFileSync(path.join(ssh, 'index'), 'not a repository index\n');
  if (isRoot) chownSync(ssh, 1234, 1234);
  chmodSync(ssh, 0o700);
  const dest = path.join(dir, 'dest');
  const agentState = path.join(dir, 'state');
  const stateDir = path.join(agentState, 'services', 'backup');
  mkdirSync(stateDir, { recursive: true, mode: 0o700 });
  const key = await loadManifestKey(stateDir);
  const { real } = await openDestination(dest, key);
  const repo = await Repository.open(real, key);
  await takeTreeSnapshot(repo, { folders: [ssh], exclude: [], actor: OWNER, id: 's1', now: Date.now, skip: [real] }, null);
  await repo.close();
  const { runtime, clock } = serviceRuntime(stateDir);
  runtime.privateDirs = [agentState];
  const service = createBackupService({ scheduler: createHeavyJobScheduler({ clock, random: () => 0 }), tickMs: 3_600_000, self: BUILT_RMAGENT })(runtime);
  services.push(service);
  await service.install();
  writeFileSync(path.join(agentState, 'allow-changes'), '');
  expect(await service.handleCommand!(install())).toBeUndefined();
  await service.apply(policy({}), { folders: [ssh], destination: dest });
  const repositoryWorks = async () => {
    const r = await Repository.open(real, key);
    try {
      return (await listRecords(r)).records.map((x) => x.id);
    } finally {
      await r.close();
    }
  };
  return { service, dir, ssh, dest, agentState, stateDir, key, repositoryWorks };
}

describe('a restore never writes into or over the backup destination or the agent\'s state folder', () => {
  it('the service refuses the destination, a folder in it, a folder holding it, /, a link to it, and the state folder, before any job', async () => {
    const { service, dir, dest, agentState, stateDir, repositoryWorks } = await setup();
    symlinkSync(dest, path.join(dir, 'link-to-dest'));
    const before = listing(dest);
    const stateBefore = listing(agentState);
    const targets = [
      dest,
      `${dest}/`,
      path.join(dest, 'data'),
      path.join(dest, 'new', 'folder'),
      path.join(dir, 'other', '..', 'dest'),
      path.join(dir, 'link-to-dest'),
      path.join(dir, 'link-to-dest', 'sub'),
      dir, // holds the destination
      '/',
      agentState,
      path.join(stateDir, 'jobs'),
    ];
    for (const target of targets) {
      const outcome = await service.handleCommand!(restore({ target }));
      expect(outcome, target).toMatchObject({ status: 'rejected', reason: { code: 'BACKUP_RESTORE_TARGET_UNSAFE' } });
    }
    // In place, a policy folder that holds the destination is refused too (its restore would write over it).
    await service.apply(policy({}), { folders: [dir], destination: dest });
    expect(await service.handleCommand!(restore({}))).toMatchObject({ status: 'rejected', reason: { code: 'BACKUP_RESTORE_TARGET_UNSAFE' } });
    expect(await service.handleCommand!(restore({ paths: ['dest/config'] }))).toMatchObject({ status: 'rejected', reason: { code: 'BACKUP_RESTORE_TARGET_UNSAFE' } });
    expect(listing(dest)).toEqual(before);
    expect(existsSync(path.join(stateDir, 'jobs')) ? readdirSync(path.join(stateDir, 'jobs')) : []).toEqual([]); // no job started
    expect(listing(agentState)).toEqual(stateBefore);
    expect(await repositoryWorks()).toEqual(['s1']);
    if (isRoot) expect(statSync(dest).uid).toBe(0);
  });

  it('a job file naming the destination (or a folder holding it) as target is refused by the job itself', async () => {
    const { dir, dest, stateDir, ssh, repositoryWorks } = await setup();
    const before = listing(dest);
    for (const [i, target] of [dest, path.join(dest, 'index'), dir].entries()) {
      const jobDir = path.join(stateDir, 'jobs', `j${i}`);
      mkdirSync(jobDir, { recursive: true });
      const jobFile = path.join(jobDir, 'job.json');
      writeFileSync(jobFile, JSON.stringify({ v: 1, kind: 'restore', jobId: `j${i}`, commandId: null, createdAt: Date.now(), stateDir, destination: dest, lastSnapshot: null, snapshot: 's1', target, policyFolders: [ssh] }));
      const result = await runJobFile(jobFile);
      expect(result, target).toMatchObject({ kind: 'error', code: 'BACKUP_RESTORE_TARGET_UNSAFE' });
    }
    expect(listing(dest)).toEqual(before);
    expect(await repositoryWorks()).toEqual(['s1']);
  });

  it('a folder beside the destination whose name starts the same is not refused (no string-prefix test)', async () => {
    const { service, dest } = await setup();
    const beside = `${dest}2`;
    expect(await service.handleCommand!(restore({ target: beside }))).toEqual({ status: 'done' });
    expect(readFileSync(path.join(beside, 'config'), 'utf8')).toBe('Host work\n  HostName 10.0.0.1\n');
    expect(isSameOrInside(`${dest}2`, dest)).toBe(false);
    expect(isSameOrInside(path.join(dest, '..x'), dest)).toBe(true);
    expect(isSameOrInside(path.dirname(dest), dest)).toBe(false);
  });
});
