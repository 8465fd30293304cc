// A careless policy that backs the repository up into itself (review 4, finding 14). Mistake: a policy whose folder
// IS the destination, or lies inside it (folders ["/mnt/backup/data"] with destination "/mnt/backup"). The walk
// skipped the destination only as an entry met inside a folder, so each run stored the previous runs' packs,
// indexes and records again (encrypted: incompressible) and the repository grew by everything it held at every
// run, although docs/policies.md says "never backed up into itself". The job passes skip: [real destination]
// (job.ts); so do these tests. Checked: such a folder is left out and listed with why; the policy's other folders
// are backed up; a policy with no other folder fails naming the fix.
import { afterEach, describe, expect, it } from 'vitest';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { Repository } from '../../../src/services/backup/repo.js';
import { takeTreeSnapshot } from '../../../src/services/backup/tree-snapshot.js';
import type { SnapshotRecord } from '../../../src/services/backup/tree.js';
import { decodeTree } from '../../../src/services/backup/tree.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function setup() {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'bk-dest-'));
  dirs.push(dir);
  const repoDir = path.join(dir, 'backup');
  mkdirSync(repoDir, { mode: 0o700 });
  writeFileSync(path.join(repoDir, 'admin-notes.txt'), 'x'.repeat(10_000));
  const other = path.join(dir, 'home');
  mkdirSync(other);
  writeFileSync(path.join(other, 'a.txt'), 'a');
  return { dir, repoDir, other, key: randomBytes(32) };
}

async function names(repo: Repository, record: SnapshotRecord): Promise<string[]> {
  const out: string[] = [];
  const visit = async (id: string, rel: string): Promise<void> => {
    for (const e of decodeTree(await repo.read(id)).entries) {
      out.push(`${rel}${e.name}`);
      if (e.tree) await visit(e.tree, `${rel}${e.name}/`);
    }
  };
  for (const f of record.folders) await visit(f.tree, `${f.name}/`);
  return out;
}

describe('a policy folder that is the destination or inside it', () => {
  for (const shape of ['equal', 'inside', 'through a link'] as const) {
    it(`is left out and listed, the other folders backed up, over two runs (${shape})`, async () => {
      const { dir, repoDir, other, key } = setup();
      let folder = shape === 'equal' ? repoDir : path.join(repoDir, 'data');
      if (shape === 'through a link') {
        symlinkSync(repoDir, path.join(dir, 'link-to-backup')); // ours (the test's account): a trusted link
        folder = path.join(dir, 'link-to-backup');
      }
      let previous: SnapshotRecord | null = null;
      for (let run = 1; run <= 2; run++) {
        const repo = await Repository.open(repoDir, key);
        const warnings: string[] = [];
        const record: SnapshotRecord = await takeTreeSnapshot(repo, { folders: [folder, other], exclude: [], actor: null, id: `s${run}`, now: Date.now, skip: [repoDir], onWarning: (w) => warnings.push(w) }, previous);
        previous = record;
        expect(record.folders.map((f) => f.path)).toEqual([other]);
        expect(record.skippedPaths).toEqual([{ path: folder, reason: expect.stringMatching(/backup destination or inside it/) as unknown as string }]);
        expect(warnings.join('\n')).toMatch(/never backed up into itself/);
        // Only the other folder's file: none of the repository's own files (config, index, packs, s1, the notes).
        expect(await names(repo, record)).toEqual(['home/a.txt']);
        await repo.close();
      }
    });
  }

  it('a policy whose only folder is the destination fails, naming the fix, and stores no record', async () => {
    const { repoDir, key } = setup();
    const repo = await Repository.open(repoDir, key);
    const result = await takeTreeSnapshot(repo, { folders: [repoDir], exclude: [], actor: null, id: 's1', now: Date.now, skip: [repoDir] }, null).then(() => 'stored', (err: Error) => err.message);
    await repo.close();
    expect(result).toMatch(/backup destination or inside it.*choose another destination/);
  });
});
