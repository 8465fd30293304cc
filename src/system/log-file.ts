// Reading new bytes of a log file a policy names. The path may be in a folder a local user writes, so it is opened
// without following a link (O_NOFOLLOW) and without waiting (O_NONBLOCK: opening a FIFO with no writer would block
// a libuv thread for good, and four such opens block every file operation of the agent), and only a regular file is
// read (fstat on the handle, so nothing can be swapped in between).
import { constants } from 'node:fs';
import { fsAsync as fs } from './fs-async.js';

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

/**
 * New bytes of `file` after `from` (null: none, only find the end), at most `maxBytes`; starts over when the file
 * shrank or is another file. Throws errno errors (ENOENT, EACCES, ELOOP for a link) and ENOTREG for anything but a
 * regular file.
 */
export async function readLogChunk(file: string, from: LogPosition | null, maxBytes: number): Promise<LogChunk> {
  const handle = await fs.open(file, OPEN_FLAGS);
  try {
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
