// Reading new bytes of a log file a policy names. The path may be in a folder a local user writes, so it is opened
// without following a link (O_NOFOLLOW) and without waiting (O_NONBLOCK: opening a FIFO with no writer would block
// a libuv thread for good, and four such opens block every file operation of the agent), and only a regular file is
// read (fstat on the handle, so nothing can be swapped in between). The folders above it are resolved link by link
// (safe-files: a link another account can change is not followed) and the opened file must be where they led, so a
// user owning a folder on the path cannot point the agent (root) at another folder holding a file of the same name.
// Files under a private folder (the agent's own state: device key, registration) are never read.
import { constants } from 'node:fs';
import path from 'node:path';
import { fsAsync as fs } from './fs-async.js';
import { chainUnchanged, folderChain, openedPath, resolveTrustedPath, safeFileError } from './safe-files.js';

// Windows has neither flag (0): there a FIFO cannot sit at a file path, and the fstat check still applies.
const OPEN_FLAGS = constants.O_RDONLY | (constants.O_NONBLOCK ?? 0) | (constants.O_NOFOLLOW ?? 0);

export interface LogPosition {
  offset: number;
  /** File identity (inode) the offset belongs to: another file at the path (rotated) is read from its start. */
  ino?: number;
}

export interface LogChunk {
  bytes: Buffer;
  /** File offset of `bytes[0]`. */
  start: number;
  ino: number;
  /** File size when read. */
  size: number;
}

const KIND: Array<[string, (s: import('node:fs').Stats) => boolean]> = [
  ['FIFO', (s) => s.isFIFO()],
  ['folder', (s) => s.isDirectory()],
  ['character device', (s) => s.isCharacterDevice()],
  ['block device', (s) => s.isBlockDevice()],
  ['socket', (s) => s.isSocket()],
];

export interface LogReadOptions {
  /** Folders whose files are never read, whatever the path that leads there (the agent's state folder). */
  privateDirs?: readonly string[];
}

const isInside = (file: string, dir: string): boolean => {
  const rel = path.relative(dir, file);
  return rel === '' || (!rel.startsWith('..') && !path.isAbsolute(rel));
};

/** The real folders of `dirs` (links resolved as the OS does; a folder that does not exist is kept as named). */
async function realFolders(dirs: readonly string[]): Promise<string[]> {
  return Promise.all(dirs.map((d) => fs.realpath(path.resolve(d)).catch(() => path.resolve(d))));
}

/**
 * New bytes of `file` after `from` (null: none, only find the end), at most `maxBytes`; starts over when the file
 * shrank or is another file. Throws errno errors (ENOENT, EACCES, ELOOP for a link), ENOTREG for anything but a
 * regular file, EPRIVATE for a file in a private folder, UNSAFE_PATH for a folder link another account can change
 * or a folder swapped while opening.
 */
export async function readLogChunk(file: string, from: LogPosition | null, maxBytes: number, options: LogReadOptions = {}): Promise<LogChunk> {
  if (!path.isAbsolute(file)) throw safeFileError('UNSAFE_PATH', `${file.slice(0, 200)} is not an absolute path`);
  const dir = await resolveTrustedPath(path.dirname(file));
  const real = path.join(dir, path.basename(file));
  const privateDir = (await realFolders(options.privateDirs ?? [])).find((p) => isInside(real, p));
  if (privateDir) throw Object.assign(new Error(`${file} is in the agent's own state folder ${privateDir}`), { code: 'EPRIVATE' });
  const chain = await folderChain(dir);
  const handle = await fs.open(real, OPEN_FLAGS);
  try {
    // Where the OS says where the open file is (Linux), that is the proof; elsewhere the folders must be the same ones.
    const opened = await openedPath(handle);
    if (opened !== null ? opened !== real : !(await chainUnchanged(chain))) throw safeFileError('UNSAFE_PATH', `a folder of ${file} changed while it was opened`);
    const stat = await handle.stat();
    if (!stat.isFile()) {
      const kind = KIND.find(([, is]) => is(stat))?.[0] ?? 'special file';
      throw Object.assign(new Error(`${file} is a ${kind}, not a regular file`), { code: 'ENOTREG' });
    }
    const size = stat.size;
    if (!from) return { bytes: Buffer.alloc(0), start: size, ino: stat.ino, size };
    const start = (from.ino !== undefined && from.ino !== stat.ino) || size < from.offset ? 0 : from.offset;
    const length = Math.min(maxBytes, size - start);
    if (length <= 0) return { bytes: Buffer.alloc(0), start, ino: stat.ino, size };
    const bytes = Buffer.alloc(length);
    const { bytesRead } = await handle.read(bytes, 0, length, start);
    return { bytes: bytes.subarray(0, bytesRead), start, ino: stat.ino, size };
  } finally {
    await handle.close();
  }
}
