// The promise-returning file operations the agent uses, over Node's callback `fs` (util.promisify) instead of
// `fs.promises`. Why: the first touch of `fs.promises` (or `node:fs/promises`) loads Node's internal/fs/promises,
// which pulls in readline, the REPL history module and file watchers — ~0.8 MB of resident memory for the life of
// the daemon (bare Node 24 with the agent's V8 flags: 51.5 -> 52.4 MB), for FileHandle.readLines() and watch(),
// neither of which the agent uses. Same functions, same arguments, same errors; `open` gives a small handle with
// the FileHandle methods the agent calls.
import fs, { type BigIntStats, type Stats } from 'node:fs';
import { promisify } from 'node:util';

const fstat = promisify(fs.fstat);
const read = promisify(fs.read);
const write = promisify(fs.write);
const fsync = promisify(fs.fsync);
const fdatasync = promisify(fs.fdatasync);
const close = promisify(fs.close);
const fchmod = promisify(fs.fchmod);
const futimes = promisify(fs.futimes);
const writeFileAt = promisify(fs.writeFile);
const ftruncate = promisify(fs.ftruncate);
const writev = promisify(fs.writev);
const fchown = promisify(fs.fchown);

/** An open file descriptor with the subset of `fs.promises.FileHandle` the agent uses. */
export class FileHandle {
  private closed = false;
  constructor(readonly fd: number) {}
  stat(options: { bigint: true }): Promise<BigIntStats>;
  stat(options?: { bigint?: false }): Promise<Stats>;
  stat(options?: { bigint?: boolean }): Promise<Stats | BigIntStats> {
    return fstat(this.fd, options as { bigint: false });
  }
  read<T extends NodeJS.ArrayBufferView>(buffer: T, offset: number, length: number, position: number | bigint | null): Promise<{ bytesRead: number; buffer: T }> {
    return read(this.fd, buffer, offset, length, position);
  }
  write<T extends NodeJS.ArrayBufferView>(buffer: T, offset?: number, length?: number, position?: number | null): Promise<{ bytesWritten: number; buffer: T }> {
    return write(this.fd, buffer, offset, length, position);
  }
  writev(buffers: readonly NodeJS.ArrayBufferView[], position?: number): Promise<{ bytesWritten: number; buffers: readonly NodeJS.ArrayBufferView[] }> {
    return writev(this.fd, buffers, position);
  }
  /** Writes all of `data` from the current position (as FileHandle.writeFile). */
  writeFile(data: string | NodeJS.ArrayBufferView): Promise<void> {
    return writeFileAt(this.fd, data);
  }
  sync(): Promise<void> {
    return fsync(this.fd);
  }
  datasync(): Promise<void> {
    return fdatasync(this.fd);
  }
  chmod(mode: number): Promise<void> {
    return fchmod(this.fd, mode);
  }
  chown(uid: number, gid: number): Promise<void> {
    return fchown(this.fd, uid, gid);
  }
  truncate(length?: number): Promise<void> {
    return ftruncate(this.fd, length);
  }
  utimes(atime: Date | number, mtime: Date | number): Promise<void> {
    return futimes(this.fd, atime, mtime);
  }
  /** Closes once; later calls resolve (as FileHandle.close). */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await close(this.fd);
  }
}

const openFd = promisify(fs.open);

export const fsAsync = {
  async open(path: fs.PathLike, flags: fs.OpenMode = 'r', mode?: fs.Mode): Promise<FileHandle> {
    return new FileHandle(await openFd(path, flags, mode));
  },
  access: promisify(fs.access),
  chmod: promisify(fs.chmod),
  lchown: promisify(fs.lchown),
  link: promisify(fs.link),
  lstat: promisify(fs.lstat),
  lutimes: promisify(fs.lutimes),
  mkdir: promisify(fs.mkdir),
  readFile: promisify(fs.readFile),
  readdir: promisify(fs.readdir),
  readlink: promisify(fs.readlink),
  realpath: promisify(fs.realpath),
  rename: promisify(fs.rename),
  rm: promisify(fs.rm),
  stat: promisify(fs.stat),
  statfs: promisify(fs.statfs),
  symlink: promisify(fs.symlink),
  unlink: promisify(fs.unlink),
  utimes: promisify(fs.utimes),
  writeFile: promisify(fs.writeFile),
};
