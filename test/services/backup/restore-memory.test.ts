// A restore does not hold every entry of a snapshot in memory (a hostile review measured ~560 bytes of heap per
// entry when the restore planned every entry first: a 1.2-1.4 million-file snapshot could be backed up every night
// and never restored under the job's 768 MiB). 250,000 entries (250 folders of 1,000 empty files, as the agent writes
// trees) are restored by a child whose V8 heap is capped at 96 MiB; it stops itself at the first folder the restore
// makes, after every tree has been checked (so the test does not write 250,000 files). Fails when every entry is
// planned first: the child dies of heap exhaustion. A tenth of it passes either way (the control).
import { afterEach, describe, expect, it } from 'vitest';
import { execFileSync, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createHash, randomBytes } from 'node:crypto';
import os from 'node:os';
import path from 'node:path';
import { blobId, deriveKeys, Repository } from '../../../src/services/backup/repo.js';
import { encodeTree, sealRecord, type TreeEntry } from '../../../src/services/backup/tree.js';

const ROOT = path.resolve(__dirname, '../../..');
const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

describe('restoring a snapshot of many files', () => {
  it('checks every tree without holding every entry in memory', { timeout: 120_000 }, async () => {
    // Control: a tenth of it (25,000 entries) reaches the first write under the same cap.
    expect(await restoreUnderCap(25)).toMatchObject({ code: 0 });
    const { code, output } = await restoreUnderCap(250);
    expect(output).toContain('reached the first write');
    expect(code).toBe(0);
  });
});

async function restoreUnderCap(folderCount: number): Promise<{ code: number | string; output: string }> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'restore-memory-'));
  dirs.push(dir);
  const repoDir = path.join(dir, 'repo');
  mkdirSync(path.join(repoDir, 'snaps'), { recursive: true, mode: 0o700 });
  const key = randomBytes(32);
  const repo = await Repository.open(repoDir, key);
  const empty = createHash('sha256').digest('hex');
  const folders: TreeEntry[] = [];
  for (let d = 0; d < folderCount; d++) {
    const entries: TreeEntry[] = [];
    for (let f = 0; f < 1000; f++) {
      entries.push({ name: `file-${String(f).padStart(5, '0')}.txt`, mode: 0o644, uid: 1000, gid: 1000, mtimeNs: '1764000000000000000', type: 'file', ino: String(d * 1000 + f + 100), size: 0, sha256: empty, chunks: [] });
    }
    const tree = encodeTree(entries);
    await repo.add('tree', blobId(tree), tree);
    folders.push({ name: `dir${String(d).padStart(4, '0')}`, mode: 0o755, uid: 1000, gid: 1000, mtimeNs: '1764000000000000000', type: 'dir', tree: blobId(tree) });
  }
  const top = encodeTree(folders);
  await repo.add('tree', blobId(top), top);
  await repo.commit();
  await repo.close();
  const record = { format: 3 as const, id: 's1', createdAt: Date.now(), actor: null, folders: [{ path: '/srv/files', name: 'files', tree: blobId(top) }], stats: { files: folderCount * 1000, dirs: folderCount + 1, bytesRead: 0, bytesStored: 0, durationMs: 0, skipped: 0 }, skippedPaths: [] };
  writeFileSync(path.join(repoDir, 'snaps', 's1'), sealRecord(deriveKeys(key).mac, record));
  writeFileSync(path.join(dir, 'key.hex'), key.toString('hex'));
  writeFileSync(path.join(dir, 'entry.mts'), `
import { readFileSync } from 'node:fs';
import { Repository } from ${JSON.stringify(path.join(ROOT, 'src/services/backup/repo.ts'))};
import { readRecord } from ${JSON.stringify(path.join(ROOT, 'src/services/backup/tree-snapshot.ts'))};
import { restoreTreeSnapshot } from ${JSON.stringify(path.join(ROOT, 'src/services/backup/tree-restore.ts'))};
import { fsBlocking } from ${JSON.stringify(path.join(ROOT, 'src/system/fs-async.ts'))};
const repo = await Repository.open(${JSON.stringify(repoDir)}, Buffer.from(readFileSync(${JSON.stringify(path.join(dir, 'key.hex'))}, 'utf8'), 'hex'));
const record = await readRecord(repo, 's1');
// The first folder the restore makes: planning is over (or, restoring folder by folder, under way).
fsBlocking.lstat = (() => { console.log('reached the first write'); process.exit(0); }) as never;
await restoreTreeSnapshot(repo, record, { target: ${JSON.stringify(path.join(dir, 'out'))}, policyFolders: [] });
`);
  const out = path.join(dir, 'entry.mjs');
  execFileSync(path.join(ROOT, 'node_modules/.bin/esbuild'), [path.join(dir, 'entry.mts'), '--bundle', '--platform=node', '--format=esm', `--outfile=${out}`, '--log-level=error', '--banner:js=import { createRequire } from "module"; const require = createRequire(import.meta.url);'], { timeout: 60_000 });
  const child = spawn(process.execPath, ['--max-old-space-size=96', out], { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr.on('data', (d: Buffer) => (output += d.toString()));
  const code = await new Promise<number | string>((resolve) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      resolve('timeout');
    }, 60_000);
    child.on('exit', (c, s) => {
      clearTimeout(timer);
      resolve(c ?? String(s));
    });
  });
  return { code, output };
}
