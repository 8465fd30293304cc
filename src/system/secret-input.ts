// Reading a secret (the enrollment token) from a file or standard input, never from a command line, where
// every local user could read it (/proc/PID/cmdline, ps, Windows process listings).
import { constants as fsc } from 'node:fs';
import { fsAsync as fs, type FileHandle } from './fs-async.js';

/** Longest secret accepted: a token is one short line; anything longer is a mistake (or a log file). */
export const SECRET_MAX_BYTES = 4096;

/** `exposed`: the file could be read by other accounts (POSIX group/other read bits), so the secret may have leaked. */
export type SecretText = { ok: true; text: string; exposed?: boolean } | { ok: false; reason: string };

/**
 * Reads at most SECRET_MAX_BYTES + 1 bytes from `file`, or from standard input when `file` is "-".
 * The file must be a regular file (a FIFO or a device would block or never end).
 */
export async function readSecretSource(file: string, stdin: NodeJS.ReadableStream = process.stdin): Promise<SecretText> {
  if (file === '-') return readStream(stdin);
  let handle: FileHandle;
  try {
    handle = await fs.open(file, fsc.O_RDONLY | (fsc.O_NONBLOCK ?? 0));
  } catch (err) {
    return { ok: false, reason: `${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}` };
  }
  try {
    const st = await handle.stat();
    if (!st.isFile()) return { ok: false, reason: `${file} is not a regular file` };
    const buffer = Buffer.alloc(SECRET_MAX_BYTES + 1);
    const { bytesRead } = await handle.read(buffer, 0, buffer.length, 0);
    return { ok: true, text: buffer.subarray(0, bytesRead).toString('utf8'), exposed: process.platform !== 'win32' && (st.mode & 0o044) !== 0 };
  } finally {
    await handle.close();
  }
}

function readStream(stream: NodeJS.ReadableStream): Promise<SecretText> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const done = (r: SecretText) => {
      stream.removeAllListeners('data');
      stream.removeAllListeners('end');
      stream.removeAllListeners('error');
      stream.pause();
      resolve(r);
    };
    stream.on('data', (c: Buffer | string) => {
      const b = typeof c === 'string' ? Buffer.from(c) : c;
      chunks.push(b);
      size += b.length;
      if (size > SECRET_MAX_BYTES) done({ ok: true, text: Buffer.concat(chunks).toString('utf8') });
    });
    stream.on('end', () => done({ ok: true, text: Buffer.concat(chunks).toString('utf8') }));
    stream.on('error', (err: Error) => done({ ok: false, reason: `standard input: ${err.message}` }));
  });
}
