// File names the restore or the walk mangled (review 4, finding 8).
// (a) tempNameFor (safe-files) cut the name at 80 UTF-16 code units: an emoji across the cut left a lone surrogate,
//     which Node writes to the disk as U+FFFD; the /proc/self/fd check then read back another name and refused the
//     file as UNSAFE_PATH, and with it the WHOLE restore (blaming the destination for tampering). The same cut made
//     the temp name of an 84-character CJK name (252 bytes, valid on ext4) 270 bytes: ENAMETOOLONG, the whole
//     restore failed with a bare errno.
// (b) A name that is not valid UTF-8 (Latin-1 `café` as 63 61 66 E9) came back from readdir with U+FFFD, no lstat
//     found it, and every backup left it out as "vanished": silent data loss with a reason saying it was deleted.
//     Now it is listed as not backed up because its name is not UTF-8 (storing names as bytes is a format change).
import { afterEach, describe, expect, it } from 'vitest';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { Repository } from '../../../src/services/backup/repo.js';
import { readRecord, takeTreeSnapshot } from '../../../src/services/backup/tree-snapshot.js';
import { restoreTreeSnapshot } from '../../../src/services/backup/tree-restore.js';
import { cutUtf8, tempNameFor } from '../../../src/system/safe-files.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function setup(prefix: string) {
  const dir = mkdtempSync(path.join(os.tmpdir(), prefix));
  dirs.push(dir);
  const src = path.join(dir, 'src');
  mkdirSync(src);
  const repoDir = path.join(dir, 'repo');
  mkdirSync(repoDir, { mode: 0o700 });
  return { dir, src, repoDir, key: randomBytes(32) };
}

async function backupAndRestore(files: Record<string, string>): Promise<{ error: unknown; out: string }> {
  const { dir, src, repoDir, key } = setup('bk-names-');
  for (const [name, content] of Object.entries(files)) writeFileSync(path.join(src, name), content);
  const repo = await Repository.open(repoDir, key);
  await takeTreeSnapshot(repo, { folders: [src], exclude: [], actor: null, id: 's1', now: Date.now, skip: [repoDir] }, null);
  const out = path.join(dir, 'out');
  let error: unknown = null;
  await restoreTreeSnapshot(repo, await readRecord(repo, 's1'), { target: out, policyFolders: [src] }).catch((err: unknown) => (error = err));
  await repo.close();
  return { error, out };
}

describe('odd file names', () => {
  it('a file whose name has an emoji across the old 80-unit cut is restored', async () => {
    const name = `${'a'.repeat(79)}😀.txt`;
    const { error, out } = await backupAndRestore({ [name]: 'emoji', 'other.txt': 'other' });
    expect(error).toBe(null);
    expect(readFileSync(path.join(out, name), 'utf8')).toBe('emoji');
    expect(readFileSync(path.join(out, 'other.txt'), 'utf8')).toBe('other');
  });

  it('a file with a long CJK name (84 characters, 252 bytes: valid on ext4) is restored', async () => {
    const name = '文'.repeat(84);
    const { error, out } = await backupAndRestore({ [name]: 'cjk' });
    expect(error).toBe(null);
    expect(readFileSync(path.join(out, name), 'utf8')).toBe('cjk');
  });

  it('temp names keep at most 100 UTF-8 bytes of the name, cut on a code point', () => {
    for (const name of ['😀'.repeat(60), `a${'😀'.repeat(60)}`, '文'.repeat(84), 'x'.repeat(255), `${'é'.repeat(49)}😀`, 'short']) {
      const tmp = tempNameFor(name);
      expect(Buffer.byteLength(tmp)).toBeLessThanOrEqual(130);
      expect(Buffer.from(tmp).toString('utf8')).toBe(tmp); // no lone surrogate: it round-trips
      expect(name.startsWith(tmp.slice(1, -30))).toBe(true);
    }
    expect(cutUtf8('ab😀', 5)).toBe('ab');
    expect(cutUtf8('ab😀', 6)).toBe('ab😀');
    expect(cutUtf8('éé', 3)).toBe('é');
  });

  it.runIf(process.platform === 'linux')('a file whose name is not UTF-8 is reported as not backed up (not "vanished")', async () => {
    const { src, repoDir, key } = setup('bk-latin1-');
    writeFileSync(Buffer.concat([Buffer.from(`${src}/caf`), Buffer.from([0xe9]), Buffer.from('.txt')]), 'the accounts of 1998');
    writeFileSync(path.join(src, 'caf\uFFFD.txt'), 'a real U+FFFD in a name');
    const repo = await Repository.open(repoDir, key);
    const record = await takeTreeSnapshot(repo, { folders: [src], exclude: [], actor: null, id: 's1', now: Date.now, skip: [repoDir] }, null);
    await repo.close();
    expect(record.stats.files).toBe(1); // the file really named with U+FFFD
    expect(record.skippedPaths).toEqual([{ path: path.join(src, 'caf\uFFFD.txt'), reason: 'name is not valid UTF-8 (not backed up): bytes 636166e92e747874' }]);
  });
});
