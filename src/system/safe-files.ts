// Opening, reading and writing files on paths that someone other than the agent's account can change (a user's
// folder a Backup policy names, a restore target, a backup destination on a share), so that a link, a FIFO or a
// file swapped in at the wrong moment cannot make the agent (root / SYSTEM) read or write something else.
//   reads:   O_NOFOLLOW (no link at the name), O_NONBLOCK (a FIFO cannot hang a libuv thread), O_NOCTTY; fstat
//            must show a regular file with the device/inode the walk saw; where the OS tells where an open file
//            really is (Linux /proc/self/fd), that must be the path asked for: no link in a folder above either.
//   writes:  into a folder chain checked from the filesystem root (real folders, no links), through a temp file
//            created O_CREAT|O_EXCL|O_NOFOLLOW under a random name in the target folder; mode and times set on
//            the handle (fchmod, futimens), bytes verified through the handle, the chain checked again, then
//            rename. setuid, setgid and sticky bits are never set.
//   paths:   a path given by configuration or a command is resolved link by link; a link is followed only when
//            it and its folder belong to the agent's account or root and nobody else may change them.
// Windows has no O_NOFOLLOW: O_EXCL refuses an existing name (a planted link or junction included), and the
// chain checks (lstat reports links and junctions as links) stand in for /proc. Codes on errors: UNSAFE_PATH,
// NOT_REGULAR, FILE_CHANGED, TOO_LARGE (plain errors with a `code`: system/ sits below protocol/).
// The functions a backup job calls take the file operations to use (`fs`: fsAsync, or fsBlocking in the job);
// the checks are the same either way.
import { constants as fsc, type BigIntStats } from 'node:fs';
import { fsAsync, type FileHandle, type FsOps } from './fs-async.js';
import path from 'node:path';
import { createRandomPool } from './random-pool.js';

const O_NOFOLLOW = fsc.O_NOFOLLOW ?? 0;
const O_NONBLOCK = fsc.O_NONBLOCK ?? 0;
const O_NOCTTY = fsc.O_NOCTTY ?? 0;
const O_DIRECTORY = fsc.O_DIRECTORY ?? 0;
const MAX_LINK_HOPS = 40;
const isWindows = process.platform === 'win32';

export type SafeFileCode = 'UNSAFE_PATH' | 'NOT_REGULAR' | 'FILE_CHANGED' | 'TOO_LARGE';

export function safeFileError(code: SafeFileCode, message: string): Error & { code: SafeFileCode } {
  return Object.assign(new Error(message), { code });
}

/** What identifies a file while it exists: its device and inode (bigint: Windows file ids exceed 2^53). */
export interface FileIdentity {
  dev: bigint;
  ino: bigint;
}

/** One folder of a chain, as lstat saw it. */
export interface ChainLink extends FileIdentity {
  path: string;
}

export const sameIdentity = (a: FileIdentity, b: FileIdentity): boolean => a.dev === b.dev && a.ino === b.ino;

const lstatBig = (p: string, fs: FsOps = fsAsync): Promise<BigIntStats> => fs.lstat(p, { bigint: true });

/** Every folder from the filesystem root down to `dir` (absolute, without links): each must be a real folder. */
export async function folderChain(dir: string, fs: FsOps = fsAsync): Promise<ChainLink[]> {
  const chain: ChainLink[] = [];
  for (const p of prefixes(dir)) {
    const st = await lstatBig(p, fs);
    if (st.isSymbolicLink() || !st.isDirectory()) throw safeFileError('UNSAFE_PATH', `${p} is ${st.isSymbolicLink() ? 'a link' : 'not a folder'}`);
    chain.push({ path: p, dev: st.dev, ino: st.ino });
  }
  return chain;
}

/** Whether the folders of `chain` are still the very ones it recorded (no rename, no link swapped in). */
export async function chainUnchanged(chain: readonly ChainLink[], fs: FsOps = fsAsync): Promise<boolean> {
  try {
    const now = await folderChain(chain[chain.length - 1]!.path, fs);
    return now.length === chain.length && now.every((l, i) => l.path === chain[i]!.path && sameIdentity(l, chain[i]!));
  } catch {
    return false;
  }
}

/** '/a/b/c' -> ['/', '/a', '/a/b', '/a/b/c'] (drive or UNC root first on Windows). */
function prefixes(dir: string): string[] {
  const abs = path.resolve(dir);
  const root = path.parse(abs).root;
  const out = [root];
  let cur = root;
  for (const seg of abs.slice(root.length).split(path.sep).filter(Boolean)) out.push((cur = path.join(cur, seg)));
  return out;
}

/**
 * Where an open file really is, from the OS (Linux: /proc/self/fd/N). Null where the OS does not say (macOS,
 * Windows, no /proc): callers then compare folder chains before and after instead.
 */
export async function openedPath(handle: FileHandle, fs: FsOps = fsAsync): Promise<string | null> {
  if (!(await procFdWorks())) return null;
  try {
    return await fs.readlink(`/proc/self/fd/${handle.fd}`);
  } catch {
    return null;
  }
}

let procFd: Promise<boolean> | undefined;
const procFdWorks = (): Promise<boolean> =>
  (procFd ??= process.platform !== 'linux' ? Promise.resolve(false) : fsAsync.access('/proc/self/fd').then(() => true, () => false));

export interface OpenedFile {
  handle: FileHandle;
  stat: BigIntStats;
}

/**
 * Opens `file` (absolute, real) for reading: not a link, not a FIFO/device/folder, the same file as `seen`
 * when given, and really at `file` (no link swapped into a folder above it). The caller closes the handle.
 */
export async function openRegularFile(file: string, seen?: FileIdentity, fs: FsOps = fsAsync): Promise<OpenedFile> {
  const before = (await procFdWorks()) ? null : await folderChain(path.dirname(file), fs);
  const handle = await fs.open(file, fsc.O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY).catch((err: NodeJS.ErrnoException) => {
    throw err.code === 'ELOOP' || err.code === 'EMLINK' ? safeFileError('UNSAFE_PATH', `${file} is a link`) : err;
  });
  try {
    const stat = await handle.stat({ bigint: true });
    if (!stat.isFile()) throw safeFileError('NOT_REGULAR', `${file} is not a regular file`);
    if (seen && !sameIdentity(stat, seen)) throw safeFileError('FILE_CHANGED', `${file} was replaced after it was listed`);
    await checkOpenedAt(handle, file, stat, before, fs);
    return { handle, stat };
  } catch (err) {
    await handle.close();
    throw err;
  }
}

export interface OpenedFolder {
  /** Open (O_NOFOLLOW|O_DIRECTORY) where the OS lets a folder be opened; the caller closes it. */
  handle: FileHandle | null;
  /** Where to list the folder and lstat/readlink its entries: /proc/self/fd/N (that very folder) or the path. */
  at: string;
  /** Whether `at` is pinned to the folder; if not, the caller checks `stillFolder` after listing. */
  pinned: boolean;
}

/**
 * Opens the folder `dir` (absolute) for listing: not a link at its name (O_NOFOLLOW), a folder, the very one the
 * walk saw (`seen`: a link or another folder swapped in after that lstat is refused, FILE_CHANGED/UNSAFE_PATH). On
 * Linux its entries are then listed and lstat'ed through /proc/self/fd/N, whatever is renamed or swapped meanwhile;
 * elsewhere through the path, and `stillFolder(dir, seen)` after the listing says whether it can be used. One
 * open and one fstat per folder.
 */
export async function openFolder(dir: string, seen: FileIdentity, fs: FsOps = fsAsync): Promise<OpenedFolder> {
  if (isWindows || !(await procFdWorks())) return { handle: null, at: dir, pinned: false };
  const handle = await fs.open(dir, fsc.O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY).catch((err: NodeJS.ErrnoException) => {
    throw err.code === 'ELOOP' || err.code === 'ENOTDIR' ? safeFileError('UNSAFE_PATH', `${dir} is a link or not a folder`) : err;
  });
  try {
    const stat = await handle.stat({ bigint: true });
    if (!stat.isDirectory() || !sameIdentity(stat, seen)) throw safeFileError('FILE_CHANGED', `${dir} was replaced after it was listed`);
    return { handle, at: `/proc/self/fd/${handle.fd}`, pinned: true };
  } catch (err) {
    await handle.close();
    throw err;
  }
}

/** Whether `dir` is (still) the folder `seen`, not a link. */
export async function stillFolder(dir: string, seen: FileIdentity, fs: FsOps = fsAsync): Promise<boolean> {
  const st = await lstatBig(dir, fs).catch(() => null);
  return st !== null && st.isDirectory() && sameIdentity(st, seen);
}

// Linux tells where a handle is; elsewhere the name and the folder chain must be what they were before the open.
async function checkOpenedAt(handle: FileHandle, file: string, stat: BigIntStats, before: ChainLink[] | null, fs: FsOps): Promise<void> {
  const real = await openedPath(handle, fs);
  if (real !== null) {
    if (real !== file) throw safeFileError('UNSAFE_PATH', `${file} resolves to ${real}`);
    return;
  }
  const named = await lstatBig(file, fs).catch(() => null);
  if (!named || named.isSymbolicLink() || !sameIdentity(named, stat)) throw safeFileError('FILE_CHANGED', `${file} changed while it was opened`);
  if (before && !(await chainUnchanged(before, fs))) throw safeFileError('UNSAFE_PATH', `a folder above ${file} changed while it was opened`);
}

/** The whole content of a regular file opened as openRegularFile does, at most `maxBytes`. */
export async function readRegularFile(file: string, maxBytes: number, seen?: FileIdentity): Promise<Buffer> {
  const { handle, stat } = await openRegularFile(file, seen);
  try {
    if (stat.size > BigInt(maxBytes)) throw safeFileError('TOO_LARGE', `${file} is larger than ${maxBytes} bytes`);
    const buffer = Buffer.alloc(Number(stat.size));
    let filled = 0;
    while (filled < buffer.length) {
      const { bytesRead } = await handle.read(buffer, filled, buffer.length - filled, filled);
      if (bytesRead === 0) break;
      filled += bytesRead;
    }
    return buffer.subarray(0, filled);
  } finally {
    await handle.close();
  }
}

export interface TrustedPathOptions {
  /** Accounts whose links and folders are trusted (default: this process's effective uid and root). */
  trustedUids?: readonly number[];
}

const defaultTrusted = (): number[] => (typeof process.geteuid === 'function' ? [...new Set([process.geteuid(), 0])] : [0]);

/**
 * The real path of `p` (absolute), resolved link by link: a link is followed only when it and the folder holding
 * it belong to a trusted account and that folder is not writable by group or others, so nobody else can point
 * it elsewhere. Components that do not exist yet are kept as they are (the caller creates them with
 * makeFolders). Throws UNSAFE_PATH naming the link it will not follow.
 */
export async function resolveTrustedPath(p: string, options: TrustedPathOptions = {}): Promise<string> {
  if (!path.isAbsolute(p)) throw safeFileError('UNSAFE_PATH', `${p.slice(0, 200)} is not an absolute path`);
  const trusted = options.trustedUids ?? defaultTrusted();
  let pending = path.resolve(p).slice(path.parse(path.resolve(p)).root.length).split(path.sep).filter(Boolean);
  let cur = path.parse(path.resolve(p)).root;
  let hops = 0;
  while (pending.length) {
    const seg = pending.shift()!;
    const next = path.join(cur, seg);
    const st = await lstatBig(next).catch((err: NodeJS.ErrnoException) => (err.code === 'ENOENT' ? null : Promise.reject(err)));
    if (!st) return path.join(next, ...pending);
    if (!st.isSymbolicLink()) {
      cur = next;
      continue;
    }
    if (++hops > MAX_LINK_HOPS) throw safeFileError('UNSAFE_PATH', `${p.slice(0, 200)}: too many links`);
    // Windows: any account may make a junction in a folder it can write, and ACLs cannot be read here: no link is trusted.
    const holder = await lstatBig(cur);
    if (isWindows || !trusted.includes(Number(st.uid)) || !trusted.includes(Number(holder.uid)) || (holder.mode & 0o022n) !== 0n) {
      throw safeFileError('UNSAFE_PATH', `${next} is a link that another account can change`);
    }
    const target = await fsAsync.readlink(next);
    const resolved = path.resolve(cur, target);
    const root = path.parse(resolved).root;
    cur = root;
    pending = [...resolved.slice(root.length).split(path.sep).filter(Boolean), ...pending];
  }
  return cur;
}

/**
 * Creates the missing folders of `dir` (a path resolveTrustedPath returned) one at a time, never through a
 * link, and returns the chain from the root. Existing folders are left as they are; new ones get `mode`.
 */
export async function makeFolders(dir: string, mode: number, fs: FsOps = fsAsync): Promise<ChainLink[]> {
  const chain: ChainLink[] = [];
  for (const p of prefixes(dir)) {
    let st = await lstatBig(p, fs).catch((err: NodeJS.ErrnoException) => (err.code === 'ENOENT' ? null : Promise.reject(err)));
    if (!st) {
      // Every folder above is checked already, so this mkdir cannot land elsewhere; it never follows a link at its
      // own name (one planted here makes it fail with EEXIST, and the lstat below refuses it).
      await fs.mkdir(p, { mode: mode & 0o777 }).catch((err: NodeJS.ErrnoException) => {
        if (err.code !== 'EEXIST') throw err;
      });
      st = await lstatBig(p, fs);
    }
    if (st.isSymbolicLink() || !st.isDirectory()) throw safeFileError('UNSAFE_PATH', `${p} is ${st.isSymbolicLink() ? 'a link' : 'not a folder'}`);
    chain.push({ path: p, dev: st.dev, ino: st.ino });
  }
  return chain;
}

/** Owner, permission bits and mtime to give something made in a checked folder. */
export interface EntryMetadata {
  /** Given only when set (root): chown first, it clears set-id bits. */
  owner?: { uid: number; gid: number };
  /** Permission bits (& 0o777). */
  mode: number;
  mtimeSec: number;
}

async function applyOnHandle(handle: FileHandle, meta: EntryMetadata): Promise<void> {
  if (meta.owner) await handle.chown(meta.owner.uid, meta.owner.gid);
  await handle.chmod(meta.mode & 0o777);
  await handle.utimes(meta.mtimeSec, meta.mtimeSec);
}

/**
 * Gives the folder at the end of `chain` (as makeFolders or folderChain recorded it) its metadata through a handle:
 * opened without following a link, the very folder recorded, and still at its path (Linux /proc; elsewhere the
 * chain unchanged). By path, a folder another account swapped for a link (its own folder, renamed away) would
 * have made root chown and chmod wherever the link points. Windows cannot open a folder for this: the chain is
 * checked, then the path is used (no owners there; docs/security.md).
 */
export async function setFolderMetadata(chain: readonly ChainLink[], meta: EntryMetadata, fs: FsOps = fsAsync): Promise<void> {
  const seen = chain[chain.length - 1]!;
  if (isWindows) {
    if (!(await chainUnchanged(chain, fs))) throw safeFileError('UNSAFE_PATH', `${seen.path} or a folder above it changed`);
    await fs.chmod(seen.path, meta.mode & 0o777);
    await fs.utimes(seen.path, meta.mtimeSec, meta.mtimeSec);
    return;
  }
  const handle = await fs.open(seen.path, fsc.O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY).catch((err: NodeJS.ErrnoException) => {
    throw err.code === 'ELOOP' || err.code === 'ENOTDIR' ? safeFileError('UNSAFE_PATH', `${seen.path} is no longer a folder`) : err;
  });
  try {
    const stat = await handle.stat({ bigint: true });
    if (!stat.isDirectory() || !sameIdentity(stat, seen)) throw safeFileError('UNSAFE_PATH', `${seen.path} was replaced`);
    const real = await openedPath(handle, fs);
    if (real !== null ? real !== seen.path : !(await chainUnchanged(chain, fs))) throw safeFileError('UNSAFE_PATH', `${seen.path} was moved`);
    await applyOnHandle(handle, meta);
  } finally {
    await handle.close();
  }
}

/**
 * Gives the FIFO just made at `file` (a temp name in the last folder of `chain`) its metadata through a handle:
 * opened without following a link and without waiting for a writer, a FIFO with one name, still at `file`. By
 * path, the FIFO swapped for a link (or a hard link) would have made root chmod or chown another file.
 */
export async function setFifoMetadata(chain: readonly ChainLink[], file: string, meta: EntryMetadata, fs: FsOps = fsAsync): Promise<void> {
  const handle = await fs.open(file, fsc.O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY).catch((err: NodeJS.ErrnoException) => {
    throw err.code === 'ELOOP' || err.code === 'EMLINK' ? safeFileError('UNSAFE_PATH', `${file} is a link`) : err;
  });
  try {
    const stat = await handle.stat({ bigint: true });
    if (!stat.isFIFO() || stat.nlink !== 1n) throw safeFileError('UNSAFE_PATH', `${file} was replaced`);
    await checkOpenedAt(handle, file, stat, (await procFdWorks()) ? null : [...chain], fs);
    await applyOnHandle(handle, meta);
  } finally {
    await handle.close();
  }
}

/**
 * A single file name: no separator of this platform, not '.' or '..', no NUL, at most 255 bytes. On POSIX a '\'
 * is an ordinary character (files from Windows zips); on Windows it, '/' and ':' (a stream or a drive) are not.
 */
export function isPlainName(name: string): boolean {
  return name !== '' && name !== '.' && name !== '..' && !(isWindows ? /[/\\:\0]/ : /[/\0]/).test(name) && Buffer.byteLength(name) <= 255;
}

export interface WriteInFolderOptions {
  /** Permission bits (& 0o777: setuid, setgid and sticky are never set). */
  mode: number;
  mtimeMs?: number;
  /** The mtime in seconds with its fraction (finer than mtimeMs); wins over mtimeMs. */
  mtimeSec?: number;
  /** Checks the bytes as written, through the handle (`stat`: its fstat after the writes), before the file takes its name; throw to refuse it. */
  verify?: (handle: FileHandle, stat: BigIntStats) => Promise<void>;
  /** Leave 4 KiB blocks of zeros unwritten (holes), the length set at the end: a sparse file stays sparse. */
  sparse?: boolean;
  /** Owner to give the file (on the handle, before its mode); only root can. */
  owner?: { uid: number; gid: number };
  /** fsync the file and its folder (default); a restore of many files may skip it, like cp. */
  durable?: boolean;
  /** The file operations (default fsAsync). */
  fs?: FsOps;
}

const HOLE_BLOCK = 4096;
const ZERO_BLOCK = Buffer.alloc(HOLE_BLOCK);

// Temp names take 12 bytes of a pool the CSPRNG refills 4 KiB at a time (random-pool.ts).
const nameBytes = createRandomPool(4092);

/** How much of the name a temp name keeps (UTF-8 bytes): with the rest, 130 bytes, well under the 255 of a name. */
const TEMP_NAME_KEEPS = 100;

/**
 * `.name.<24 random hex digits>.tmp`: a name nobody can predict, for a file created exclusively beside `name`. The
 * name is cut by UTF-8 bytes on a code point: a cut inside a surrogate pair left a lone surrogate, written to the
 * disk as U+FFFD (so the /proc check saw another name and refused the restore), and 80 CJK characters made 270 bytes.
 */
export function tempNameFor(name: string): string {
  const random = Buffer.allocUnsafe(12);
  nameBytes(random);
  return `.${cutUtf8(name, TEMP_NAME_KEEPS)}.${random.toString('hex')}.tmp`;
}

/** The longest start of `s` of at most `max` UTF-8 bytes that ends on a code point. */
export function cutUtf8(s: string, max: number): string {
  if (s.length * 3 <= max) return s; // a UTF-16 code unit is at most 3 bytes (a pair: 4 for 2)
  let bytes = 0;
  let end = 0;
  for (const ch of s) {
    const cp = ch.codePointAt(0)!;
    const n = cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
    if (bytes + n > max) break;
    bytes += n;
    end += ch.length;
  }
  return s.slice(0, end);
}

/**
 * Writes `data` at `position`, skipping whole zero blocks (holes); each run of other blocks is one write. Blocks
 * are compared with a zero block natively: a byte loop in JavaScript took ~140 ms for the bench's 64 MiB sparse
 * file, and would take seconds for a large disk image.
 */
async function writeSparse(handle: FileHandle, data: Uint8Array, position: number): Promise<number> {
  const buf = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  const zeroAt = (start: number) => {
    const end = Math.min(buf.length, start + HOLE_BLOCK);
    return buf.compare(ZERO_BLOCK, 0, end - start, start, end) === 0;
  };
  for (let start = 0; start < buf.length; ) {
    if (zeroAt(start)) {
      start += HOLE_BLOCK;
      continue;
    }
    let end = start + HOLE_BLOCK;
    while (end < buf.length && !zeroAt(end)) end += HOLE_BLOCK;
    end = Math.min(end, buf.length);
    await handle.writeAll(buf, start, end - start, position + start);
    start = end;
  }
  return position + buf.length;
}

/**
 * Writes `name` into the last folder of `chain` (from folderChain or makeFolders) so that nothing another
 * account does to that folder or its parents redirects the write: a random temp name created exclusively and
 * without following a link, fsynced, checked where it is, mode and times set on the handle, verified, the chain
 * checked again, then renamed over `name` (a link at `name` is replaced, never written through). Returns the
 * written file's identity (what a hard link to it must show).
 */
export async function writeFileInFolder(chain: readonly ChainLink[], name: string, data: Uint8Array | AsyncIterable<Uint8Array>, options: WriteInFolderOptions): Promise<FileIdentity> {
  if (!isPlainName(name)) throw safeFileError('UNSAFE_PATH', `not a file name: ${JSON.stringify(name.slice(0, 200))}`);
  const dir = chain[chain.length - 1]!.path;
  const tmp = path.join(dir, tempNameFor(name));
  // Read-write: verify() reads the bytes back through this very handle.
  const fs = options.fs ?? fsAsync;
  const handle = await fs.open(tmp, fsc.O_RDWR | fsc.O_CREAT | fsc.O_EXCL | O_NOFOLLOW | O_NOCTTY, 0o600);
  let createdAt = tmp;
  let renamed = false;
  let written: BigIntStats;
  try {
    const real = await openedPath(handle, fs);
    if (real !== null && real !== tmp) {
      createdAt = real; // a folder above was swapped for a link between the chain check and the open
      throw safeFileError('UNSAFE_PATH', `${tmp} was created at ${real}`);
    }
    if (real === null && !(await chainUnchanged(chain, fs))) throw safeFileError('UNSAFE_PATH', `a folder above ${tmp} changed`);
    if (options.sparse) {
      let position = 0;
      for await (const chunk of data instanceof Uint8Array ? [data] : data) position = await writeSparse(handle, chunk, position);
      await handle.truncate(position);
    } else if (data instanceof Uint8Array) await handle.writeFile(data);
    else for await (const chunk of data) await handle.writeFile(chunk);
    if (options.durable !== false) await handle.sync();
    written = await handle.stat({ bigint: true });
    await options.verify?.(handle, written);
    if (!(await stillAt(handle, tmp, chain, fs))) throw safeFileError('UNSAFE_PATH', `a folder above ${path.join(dir, name)} changed during the write`);
    // Owner, mode and times last, on the handle: until the rename the file stays 0600 (chown first: it clears set-id bits).
    if (options.owner) await handle.chown(options.owner.uid, options.owner.gid);
    await handle.chmod(options.mode & 0o777);
    if (options.mtimeSec !== undefined) await handle.utimes(options.mtimeSec, options.mtimeSec);
    else if (options.mtimeMs !== undefined) await handle.utimes(new Date(options.mtimeMs), new Date(options.mtimeMs));
    await fs.rename(tmp, path.join(dir, name));
    renamed = true;
    await handle.close();
  } catch (err) {
    // Remove the temp file where it really is now (its folder may have been moved); only a file with our random
    // name can be removed this way, wherever a link points.
    const where = renamed ? null : ((await openedPath(handle, fs).catch(() => null)) ?? createdAt);
    await handle.close().catch(() => undefined);
    if (where) await fs.unlink(where).catch(() => undefined);
    throw err;
  }
  if (options.durable !== false) await syncFolder(dir, fs);
  return { dev: written.dev, ino: written.ino };
}

/**
 * Whether the file open at `handle` is still at `file`, i.e. no folder of `chain` was renamed or swapped: on
 * Linux one readlink of /proc/self/fd (the kernel's path of the open file changes with any folder above it),
 * elsewhere an lstat of every folder of the chain. A restore asks this once per file: the chain walk was ~5 s
 * of a 16,000-file restore.
 */
async function stillAt(handle: FileHandle, file: string, chain: readonly ChainLink[], fs: FsOps): Promise<boolean> {
  const real = await openedPath(handle, fs);
  return real !== null ? real === file : chainUnchanged(chain, fs);
}

async function syncFolder(dir: string, fs: FsOps): Promise<void> {
  if (isWindows) return;
  const handle = await fs.open(dir, fsc.O_RDONLY | O_NOFOLLOW);
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/**
 * Why `dir` (an existing folder) is not private to this account, or null: it, or a folder on its real path,
 * belongs to another account or can be written by group or others. A world-writable sticky folder (/tmp) above
 * is accepted when the next folder down is ours: the sticky bit keeps others from renaming it. With `toCreateIn`,
 * `dir` is the folder a private one is about to be created in: it is judged as a folder above. POSIX only;
 * Windows ACLs cannot be read from Node, so the answer there is null (docs/security.md).
 */
export async function privateFolderProblem(dir: string, options: TrustedPathOptions & { toCreateIn?: boolean } = {}): Promise<string | null> {
  if (isWindows) return null;
  const trusted = options.trustedUids ?? defaultTrusted();
  const own = typeof process.geteuid === 'function' ? process.geteuid() : 0;
  const real = await fsAsync.realpath(dir);
  const chain = prefixes(real);
  for (let i = chain.length - 1; i >= 0; i--) {
    const p = chain[i]!;
    const st = await lstatBig(p);
    const isTarget = i === chain.length - 1 && !options.toCreateIn;
    if (isTarget ? Number(st.uid) !== own : !trusted.includes(Number(st.uid))) return `${p} belongs to uid ${st.uid}`;
    if ((st.mode & 0o022n) === 0n) continue;
    const sticky = (st.mode & 0o1000n) !== 0n;
    // The folder below is ours (or is the one about to be created, as ours).
    const childOurs = i === chain.length - 1 ? !isTarget : Number((await lstatBig(chain[i + 1]!)).uid) === own;
    if (isTarget || !sticky || !childOurs) return `${p} can be written by ${(st.mode & 0o002n) !== 0n ? 'others' : 'its group'}`;
  }
  return null;
}

/** The deepest folder of `dir` (a path resolveTrustedPath returned) that exists now. */
export async function deepestExisting(dir: string): Promise<string> {
  let cur = path.resolve(dir);
  while (!(await lstatBig(cur).then(() => true, () => false))) {
    const up = path.dirname(cur);
    if (up === cur) break;
    cur = up;
  }
  return cur;
}
