// The promise-returning file operations the agent uses, over Node's callback `fs` (util.promisify) instead of
// `fs.promises`. Why: the first touch of `fs.promises` (or `node:fs/promises`) loads Node's internal/fs/promises,
// which pulls in readline, the REPL history module and file watchers — ~0.8 MB of resident memory for the life of
// the daemon (bare Node 24 with the agent's V8 flags: 51.5 -> 52.4 MB), for FileHandle.readLines() and watch(),
// neither of which the agent uses. Same functions, same arguments, same errors; `open` gives a small handle with
// the FileHandle methods the agent calls.
//
// fsBlocking has the same shape and runs each call on the calling thread (Node's *Sync functions), its result or
// error as a settled promise. Only for a process that serves nothing else while it works — the backup job: there
// each of fsAsync's calls is a hand-off to libuv's thread pool and back (futex wake-ups and context switches on
// both sides), which cost more than the system calls themselves (a 16,000-file restore: ~1 million futex calls,
// 17 s of CPU against ~9 s with the same calls made blocking).
import fs, { type BigIntStats, type Stats } from 'node:fs';
import { promisify } from 'node:util';

type View = NodeJS.ArrayBufferView;

/** What a FileHandle does with its descriptor: on libuv's thread pool or on the calling thread. */
interface HandleOps {
  fstat(fd: number, options?: { bigint?: boolean }): Promise<Stats | BigIntStats>;
  read<T extends View>(fd: number, buffer: T, offset: number, length: number, position: number | bigint | null): Promise<{ bytesRead: number; buffer: T }>;
  write<T extends View>(fd: number, buffer: T, offset?: number, length?: number, position?: number | null): Promise<{ bytesWritten: number; buffer: T }>;
  writev(fd: number, buffers: readonly View[], position?: number): Promise<{ bytesWritten: number; buffers: readonly View[] }>;
  writeFile(fd: number, data: string | View): Promise<void>;
  fsync(fd: number): Promise<void>;
  fdatasync(fd: number): Promise<void>;
  close(fd: number): Promise<void>;
  fchmod(fd: number, mode: number): Promise<void>;
  fchown(fd: number, uid: number, gid: number): Promise<void>;
  ftruncate(fd: number, length?: number): Promise<void>;
  futimes(fd: number, atime: Date | number, mtime: Date | number): Promise<void>;
}

const pooled: HandleOps = {
  fstat: promisify(fs.fstat) as HandleOps['fstat'],
  read: promisify(fs.read) as HandleOps['read'],
  write: promisify(fs.write) as HandleOps['write'],
  writev: promisify(fs.writev) as HandleOps['writev'],
  writeFile: promisify(fs.writeFile) as HandleOps['writeFile'],
  fsync: promisify(fs.fsync),
  fdatasync: promisify(fs.fdatasync),
  close: promisify(fs.close),
  fchmod: promisify(fs.fchmod),
  fchown: promisify(fs.fchown),
  ftruncate: promisify(fs.ftruncate),
  futimes: promisify(fs.futimes),
};

/** `op` made now, on this thread; its result or its error as a settled promise. */
function now<A extends unknown[], R>(op: (...args: A) => R): (...args: A) => Promise<R> {
  return (...args) => {
    try {
      return Promise.resolve(op(...args));
    } catch (err) {
      return Promise.reject(err as Error);
    }
  };
}

const blocking: HandleOps = {
  fstat: now((fd: number, options?: { bigint?: boolean }) => fs.fstatSync(fd, options as { bigint: false })),
  read: now((fd, buffer, offset, length, position) => ({ bytesRead: fs.readSync(fd, buffer, offset, length, position), buffer })) as HandleOps['read'],
  write: now((fd, buffer, offset, length, position) => ({ bytesWritten: fs.writeSync(fd, buffer, offset, length, position), buffer })) as HandleOps['write'],
  writev: now((fd: number, buffers: readonly View[], position?: number) => ({ bytesWritten: fs.writevSync(fd, buffers, position), buffers })),
  writeFile: now((fd: number, data: string | View) => fs.writeFileSync(fd, data)),
  fsync: now(fs.fsyncSync),
  fdatasync: now(fs.fdatasyncSync),
  close: now(fs.closeSync),
  fchmod: now(fs.fchmodSync),
  fchown: now(fs.fchownSync),
  ftruncate: now(fs.ftruncateSync),
  futimes: now(fs.futimesSync),
};

/** An open file descriptor with the subset of `fs.promises.FileHandle` the agent uses. */
export class FileHandle {
  private closed = false;
  constructor(
    readonly fd: number,
    private readonly ops: HandleOps = pooled,
  ) {}
  stat(options: { bigint: true }): Promise<BigIntStats>;
  stat(options?: { bigint?: false }): Promise<Stats>;
  stat(options?: { bigint?: boolean }): Promise<Stats | BigIntStats> {
    return this.ops.fstat(this.fd, options);
  }
  read<T extends View>(buffer: T, offset: number, length: number, position: number | bigint | null): Promise<{ bytesRead: number; buffer: T }> {
    return this.ops.read(this.fd, buffer, offset, length, position);
  }
  write<T extends View>(buffer: T, offset?: number, length?: number, position?: number | null): Promise<{ bytesWritten: number; buffer: T }> {
    return this.ops.write(this.fd, buffer, offset, length, position);
  }
  writev(buffers: readonly View[], position?: number): Promise<{ bytesWritten: number; buffers: readonly View[] }> {
    return this.ops.writev(this.fd, buffers, position);
  }
  /** Writes all `length` bytes from `offset` (a write may take fewer); at `position`, or from the current one when null. */
  async writeAll(buffer: View, offset: number, length: number, position: number | null): Promise<void> {
    for (let done = 0; done < length; ) {
      const { bytesWritten } = await this.write(buffer, offset + done, length - done, position === null ? null : position + done);
      if (bytesWritten <= 0) throw new Error(`write to descriptor ${this.fd} made no progress`);
      done += bytesWritten;
    }
  }
  /** Reads now, on the calling thread, whatever kind the handle is: for a section that must not await. */
  readNow(buffer: View, offset: number, length: number, position: number): number {
    return fs.readSync(this.fd, buffer, offset, length, position);
  }
  /** Writes all of `data` from the current position (as FileHandle.writeFile). */
  writeFile(data: string | View): Promise<void> {
    return this.ops.writeFile(this.fd, data);
  }
  sync(): Promise<void> {
    return this.ops.fsync(this.fd);
  }
  datasync(): Promise<void> {
    return this.ops.fdatasync(this.fd);
  }
  chmod(mode: number): Promise<void> {
    return this.ops.fchmod(this.fd, mode);
  }
  chown(uid: number, gid: number): Promise<void> {
    return this.ops.fchown(this.fd, uid, gid);
  }
  truncate(length?: number): Promise<void> {
    return this.ops.ftruncate(this.fd, length);
  }
  utimes(atime: Date | number, mtime: Date | number): Promise<void> {
    return this.ops.futimes(this.fd, atime, mtime);
  }
  /** Closes once; later calls resolve (as FileHandle.close). */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.ops.close(this.fd);
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

/** The file operations as fsAsync names them: either fsAsync or fsBlocking. */
export type FsOps = typeof fsAsync;

// The casts: each *Sync function takes the same arguments and gives the same result as its promisified twin,
// but TypeScript infers only the last of an overloaded function's signatures.
export const fsBlocking: FsOps = {
  open: now((path: fs.PathLike, flags: fs.OpenMode = 'r', mode?: fs.Mode) => new FileHandle(fs.openSync(path, flags, mode), blocking)),
  access: now(fs.accessSync),
  chmod: now(fs.chmodSync),
  lchown: now(fs.lchownSync),
  link: now(fs.linkSync),
  lstat: now(fs.lstatSync) as FsOps['lstat'],
  lutimes: now(fs.lutimesSync),
  mkdir: now(fs.mkdirSync) as FsOps['mkdir'],
  readFile: now(fs.readFileSync) as FsOps['readFile'],
  readdir: now(fs.readdirSync) as FsOps['readdir'],
  readlink: now(fs.readlinkSync) as FsOps['readlink'],
  realpath: now(fs.realpathSync) as FsOps['realpath'],
  rename: now(fs.renameSync),
  rm: now(fs.rmSync),
  stat: now(fs.statSync) as FsOps['stat'],
  statfs: now(fs.statfsSync) as FsOps['statfs'],
  symlink: now(fs.symlinkSync) as FsOps['symlink'],
  unlink: now(fs.unlinkSync),
  utimes: now(fs.utimesSync),
  writeFile: now(fs.writeFileSync) as FsOps['writeFile'],
};
