// The safe file primitives against what a local user can do to a folder the agent reads or writes as root:
// links at the name or above it, FIFOs, files swapped after they were listed, folders swapped mid-write, links
// and folders belonging to someone else. Real files in a temp folder; chown needs root (skipped otherwise).
import { execFileSync } from 'node:child_process';
import { chmodSync, chownSync, lchownSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  folderChain,
  makeFolders,
  openRegularFile,
  privateFolderProblem,
  readRegularFile,
  resolveTrustedPath,
  writeFileInFolder,
} from '../../src/system/safe-files.js';
import { fsAsync, fsBlocking, type FsOps } from '../../src/system/fs-async.js';

const isRoot = process.getuid?.() === 0;
const NOBODY = 65534;
const temp = () => mkdtempSync(path.join(tmpdir(), 'rmagent-safe-'));
const identity = (file: string) => {
  const st = lstatSync(file, { bigint: true });
  return { dev: st.dev, ino: st.ino };
};

describe('openRegularFile / readRegularFile', () => {
  it('reads a regular file and refuses a link at its name, whatever it points to', async () => {
    const dir = temp();
    writeFileSync(path.join(dir, 'plain'), 'hello');
    writeFileSync(path.join(dir, 'secret'), 'root only');
    symlinkSync(path.join(dir, 'secret'), path.join(dir, 'link'));
    expect((await readRegularFile(path.join(dir, 'plain'), 100)).toString()).toBe('hello');
    await expect(readRegularFile(path.join(dir, 'link'), 100)).rejects.toMatchObject({ code: 'UNSAFE_PATH' });
  });

  it('refuses a FIFO at once instead of blocking a libuv thread for ever', async () => {
    const dir = temp();
    execFileSync('mkfifo', [path.join(dir, 'fifo')]);
    const started = Date.now();
    await expect(readRegularFile(path.join(dir, 'fifo'), 100)).rejects.toMatchObject({ code: 'NOT_REGULAR' });
    expect(Date.now() - started).toBeLessThan(2_000);
  });

  it('refuses a file swapped in after the walk saw another one', async () => {
    const dir = temp();
    const file = path.join(dir, 'a.txt');
    writeFileSync(file, 'what the walk saw');
    const seen = identity(file);
    writeFileSync(path.join(dir, 'other'), 'swapped in');
    renameSync(path.join(dir, 'other'), file);
    await expect(openRegularFile(file, seen)).rejects.toMatchObject({ code: 'FILE_CHANGED' });
  });

  it('refuses a file reached through a folder swapped for a link (the real path is checked)', async () => {
    const dir = temp();
    mkdirSync(path.join(dir, 'user', 'sub'), { recursive: true });
    mkdirSync(path.join(dir, 'private'));
    writeFileSync(path.join(dir, 'private', 'device.key'), 'KEY');
    renameSync(path.join(dir, 'user', 'sub'), path.join(dir, 'user', 'old'));
    symlinkSync(path.join(dir, 'private'), path.join(dir, 'user', 'sub'));
    // Even with the identity of the very file (what a walk through the link would have recorded).
    await expect(openRegularFile(path.join(dir, 'user', 'sub', 'device.key'), identity(path.join(dir, 'private', 'device.key')))).rejects.toMatchObject({ code: 'UNSAFE_PATH' });
  });

  it('refuses a file larger than the cap', async () => {
    const dir = temp();
    writeFileSync(path.join(dir, 'big'), Buffer.alloc(2048));
    await expect(readRegularFile(path.join(dir, 'big'), 1024)).rejects.toMatchObject({ code: 'TOO_LARGE' });
  });
});

describe.each<[string, FsOps]>([['fsAsync', fsAsync], ['fsBlocking', fsBlocking]])('openRegularFile over %s', (_, fs) => {
  it('refuses a link at the name and a file reached through a folder swapped for a link', async () => {
    const dir = temp();
    mkdirSync(path.join(dir, 'user', 'sub'), { recursive: true });
    mkdirSync(path.join(dir, 'private'));
    writeFileSync(path.join(dir, 'private', 'pack'), 'KEY');
    symlinkSync(path.join(dir, 'private', 'pack'), path.join(dir, 'user', 'link'));
    await expect(openRegularFile(path.join(dir, 'user', 'link'), undefined, fs)).rejects.toMatchObject({ code: 'UNSAFE_PATH' });
    renameSync(path.join(dir, 'user', 'sub'), path.join(dir, 'user', 'old'));
    symlinkSync(path.join(dir, 'private'), path.join(dir, 'user', 'sub'));
    await expect(openRegularFile(path.join(dir, 'user', 'sub', 'pack'), undefined, fs)).rejects.toMatchObject({ code: 'UNSAFE_PATH' });
    const { handle } = await openRegularFile(path.join(dir, 'private', 'pack'), undefined, fs);
    await handle.close();
  });
});

// The backup job writes with fsBlocking (every call on its own thread): the same attacks must fail the same way.
describe.each<[string, FsOps]>([['fsAsync', fsAsync], ['fsBlocking', fsBlocking]])('writeFileInFolder over %s', (_, fs) => {
  it('replaces a link planted at the name, never writing through it; mode and mtime set on the handle, setuid stripped', async () => {
    const dir = temp();
    const victim = path.join(dir, 'victim');
    writeFileSync(victim, 'root only', { mode: 0o600 });
    mkdirSync(path.join(dir, 'target'));
    symlinkSync(victim, path.join(dir, 'target', 'file'));
    const chain = await folderChain(path.join(dir, 'target'), fs);
    await writeFileInFolder(chain, 'file', Buffer.from('restored'), { mode: 0o4755, mtimeMs: 1_600_000_000_000, fs });
    expect(readFileSync(victim, 'utf8')).toBe('root only');
    expect(statSync(victim).mode & 0o7777).toBe(0o600);
    const written = lstatSync(path.join(dir, 'target', 'file'));
    expect(written.isFile()).toBe(true);
    expect(written.mode & 0o7777).toBe(0o755);
    expect(written.mtimeMs).toBe(1_600_000_000_000);
    expect(readdirSync(path.join(dir, 'target'))).toEqual(['file']); // no temp file left
  });

  it('writes a sparse file with holes where whole 4 KiB blocks are zeros, byte for byte, across pieces and odd ends', async () => {
    const dir = temp();
    const chain = await folderChain(dir, fs);
    // 2 MiB of zeros, a 10,000-byte run of data starting mid-block, zeros, one non-zero byte as the last byte of a
    // block, 1 MiB of zeros, and an odd tail; given in three pieces whose edges fall inside blocks.
    const content = Buffer.alloc(2 * 1024 * 1024 + 10_000 + 3 * 4096 + 1024 * 1024 + 777);
    content.fill(7, 2 * 1024 * 1024 + 100, 2 * 1024 * 1024 + 10_100);
    content[2 * 1024 * 1024 + 4 * 4096 - 1] = 9;
    content.fill(5, content.length - 700);
    const pieces = [content.subarray(0, 1_000_003), content.subarray(1_000_003, 2 * 1024 * 1024 + 5_000), content.subarray(2 * 1024 * 1024 + 5_000)];
    await writeFileInFolder(chain, 'disk.img', (async function* () {
      yield* pieces;
    })(), { mode: 0o640, sparse: true, fs });
    const file = path.join(dir, 'disk.img');
    expect(readFileSync(file).equals(content)).toBe(true);
    // Allocated: the data blocks (a few dozen KiB), not the 3 MiB of zeros.
    expect(statSync(file).blocks * 512).toBeLessThan(256 * 1024);
  });

  it('a sparse write continues short writes to the last byte, and fails (temp removed) on one that makes no progress', async () => {
    // The handle's writes take at most `limit` bytes each (a file system may write less than asked).
    const limited = (limit: number): FsOps => ({
      ...fs,
      open: async (...args: Parameters<FsOps['open']>) => {
        const handle = await fs.open(...args);
        const write = handle.write.bind(handle);
        handle.write = (buffer, offset, length, position) => (limit === 0 ? Promise.resolve({ bytesWritten: 0, buffer }) : write(buffer, offset, Math.min(length ?? buffer.byteLength, limit), position));
        return handle;
      },
    });
    const dir = temp();
    const content = Buffer.alloc(3 * 4096 + 5000);
    content.fill(3, 100, 9000); // two data blocks, a hole, a data tail
    content.fill(4, content.length - 3000);
    await writeFileInFolder(await folderChain(dir, fs), 'short', content, { mode: 0o600, sparse: true, fs: limited(1000) });
    expect(readFileSync(path.join(dir, 'short')).equals(content)).toBe(true);
    await expect(writeFileInFolder(await folderChain(dir, fs), 'stuck', content, { mode: 0o600, sparse: true, fs: limited(0) })).rejects.toThrow(/no progress/);
    expect(readdirSync(dir)).toEqual(['short']);
  });

  it('uses a fresh random temp name each time, created exclusively', async () => {
    const dir = temp();
    const chain = await folderChain(dir);
    const names = new Set<string>();
    for (let i = 0; i < 3; i++) {
      await writeFileInFolder(chain, 'f', Buffer.from(String(i)), {
        mode: 0o644,
        fs,
        verify: async () => { for (const n of readdirSync(dir)) if (n.endsWith('.tmp')) names.add(n); },
      });
    }
    expect(names.size).toBe(3);
    for (const n of names) expect(n).toMatch(/^\.f\.[0-9a-f]{24}\.tmp$/);
  });

  it('refuses to rename when a folder of the chain was swapped for a link during the write; the outside stays untouched', async () => {
    const dir = temp();
    mkdirSync(path.join(dir, 'user', 'docs'), { recursive: true });
    mkdirSync(path.join(dir, 'etc'));
    const chain = await folderChain(path.join(dir, 'user', 'docs'), fs);
    const write = writeFileInFolder(chain, 'cron-job', Buffer.from('* * * * * root evil\n'), {
      mode: 0o644,
      fs,
      verify: async () => {
        renameSync(path.join(dir, 'user', 'docs'), path.join(dir, 'user', 'moved'));
        symlinkSync(path.join(dir, 'etc'), path.join(dir, 'user', 'docs'));
      },
    });
    await expect(write).rejects.toMatchObject({ code: 'UNSAFE_PATH' });
    expect(readdirSync(path.join(dir, 'etc'))).toEqual([]);
    expect(readdirSync(path.join(dir, 'user', 'moved'))).toEqual([]); // the temp file was removed
  });

  it('refuses a name that is not a single plain name', async () => {
    const chain = await folderChain(temp());
    // A '\' is an ordinary name character on POSIX (written there: test/services/backup/backslash-name.test.ts).
    for (const name of ['..', '.', 'a/b', '', 'a\0b', ...(process.platform === 'win32' ? ['a\\b', 'c:d'] : [])]) {
      await expect(writeFileInFolder(chain, name, Buffer.from('x'), { mode: 0o644, fs })).rejects.toMatchObject({ code: 'UNSAFE_PATH' });
    }
  });
});

describe.each<[string, FsOps]>([['fsAsync', fsAsync], ['fsBlocking', fsBlocking]])('makeFolders over %s', (_, fs) => {
  it('creates missing folders 0700 and never through a link, not even a link above the missing ones', async () => {
    const dir = temp();
    mkdirSync(path.join(dir, 'target'));
    mkdirSync(path.join(dir, 'outside'));
    symlinkSync(path.join(dir, 'outside'), path.join(dir, 'target', 'docs'));
    await expect(makeFolders(path.join(dir, 'target', 'docs', 'deep', 'er'), 0o700, fs)).rejects.toMatchObject({ code: 'UNSAFE_PATH' });
    expect(readdirSync(path.join(dir, 'outside'))).toEqual([]);
    const chain = await makeFolders(path.join(dir, 'target', 'new', 'deep'), 0o700, fs);
    expect(chain.at(-1)!.path).toBe(path.join(dir, 'target', 'new', 'deep'));
    expect(statSync(path.join(dir, 'target', 'new')).mode & 0o777).toBe(0o700);
  });
});

describe.skipIf(!isRoot)('resolveTrustedPath and privateFolderProblem (as root)', () => {
  it('follows a link only when it and its folder belong to root or the agent and nobody else may change them', async () => {
    const dir = temp();
    mkdirSync(path.join(dir, 'real'));
    symlinkSync(path.join(dir, 'real'), path.join(dir, 'trusted'));
    expect(await resolveTrustedPath(path.join(dir, 'trusted', 'x'))).toBe(path.join(dir, 'real', 'x'));
    // A user's own link (their home folder): they can point it at /etc whenever they like.
    mkdirSync(path.join(dir, 'home'));
    chownSync(path.join(dir, 'home'), NOBODY, NOBODY);
    symlinkSync(path.join(dir, 'real'), path.join(dir, 'home', 'restore'));
    lchownSync(path.join(dir, 'home', 'restore'), NOBODY, NOBODY);
    await expect(resolveTrustedPath(path.join(dir, 'home', 'restore', 'x'))).rejects.toMatchObject({ code: 'UNSAFE_PATH' });
    // A root-owned link in a world-writable (non-sticky) folder can be replaced by anyone.
    mkdirSync(path.join(dir, 'open'));
    chmodSync(path.join(dir, 'open'), 0o777);
    symlinkSync(path.join(dir, 'real'), path.join(dir, 'open', 'link'));
    await expect(resolveTrustedPath(path.join(dir, 'open', 'link'))).rejects.toMatchObject({ code: 'UNSAFE_PATH' });
  });

  it('calls a folder private only when it and every folder above are root/agent-owned and not writable by others', async () => {
    const dir = temp(); // in /tmp: sticky and world-writable, accepted because dir is ours
    expect(await privateFolderProblem(dir)).toBeNull();
    mkdirSync(path.join(dir, 'open'));
    chmodSync(path.join(dir, 'open'), 0o777);
    expect(await privateFolderProblem(path.join(dir, 'open'))).toMatch(/can be written by others/);
    mkdirSync(path.join(dir, 'open', 'inside'), { mode: 0o700 });
    expect(await privateFolderProblem(path.join(dir, 'open', 'inside'))).toMatch(/open can be written by others/);
    mkdirSync(path.join(dir, 'theirs'), { mode: 0o700 });
    chownSync(path.join(dir, 'theirs'), NOBODY, NOBODY);
    expect(await privateFolderProblem(path.join(dir, 'theirs'))).toMatch(/belongs to uid 65534/);
  });
});
