// fsBlocking against fsAsync (src/system/fs-async.ts) on real files: the backup job swaps one for the other, so
// they must give the same results and fail the same way — an error is a rejected promise, never a throw.
import { mkdtempSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { fsAsync, fsBlocking, type FsOps } from '../../src/system/fs-async.js';

const temp = () => mkdtempSync(path.join(tmpdir(), 'rmagent-fs-'));

describe.each<[string, FsOps]>([['fsAsync', fsAsync], ['fsBlocking', fsBlocking]])('%s', (_, fs) => {
  it('writes, reads back, sets mode and times through a handle, renames', async () => {
    const dir = temp();
    const handle = await fs.open(path.join(dir, 'a'), 'wx+', 0o600);
    await handle.writeFile(Buffer.from('hello '));
    await handle.write(Buffer.from('world'), 0, 5, null);
    const back = Buffer.alloc(11);
    expect((await handle.read(back, 0, 11, 0)).bytesRead).toBe(11);
    expect(back.toString()).toBe('hello world');
    expect(handle.readNow(back, 0, 5, 6)).toBe(5);
    expect((await handle.stat({ bigint: true })).size).toBe(11n);
    await handle.chmod(0o640);
    await handle.utimes(1_600_000_000, 1_600_000_000);
    await handle.close();
    await handle.close(); // a second close resolves
    await fs.rename(path.join(dir, 'a'), path.join(dir, 'b'));
    expect(readFileSync(path.join(dir, 'b'), 'utf8')).toBe('hello world');
    expect(statSync(path.join(dir, 'b')).mode & 0o777).toBe(0o640);
    expect(statSync(path.join(dir, 'b')).mtimeMs).toBe(1_600_000_000_000);
    expect(await fs.readdir(dir)).toEqual(['b']);
    expect((await fs.lstat(path.join(dir, 'b'), { bigint: true })).size).toBe(11n);
  });

  it('fails as a rejected promise with the system error code, not a throw', async () => {
    const dir = temp();
    let opening: Promise<unknown> | undefined;
    expect(() => { opening = fs.open(path.join(dir, 'missing'), 'r'); }).not.toThrow();
    await expect(opening).rejects.toMatchObject({ code: 'ENOENT' });
    await expect(fs.open(dir, 'wx')).rejects.toMatchObject({ code: 'EEXIST' });
    await expect(fs.lstat(path.join(dir, 'missing'))).rejects.toMatchObject({ code: 'ENOENT' });
    await expect(fs.readlink(dir)).rejects.toMatchObject({ code: 'EINVAL' });
    await expect(fs.mkdir(dir)).rejects.toMatchObject({ code: 'EEXIST' });
  });
});
