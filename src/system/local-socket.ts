// The local IPC edge: one JSON request line in, one JSON answer line out, over a Unix socket or named pipe.
// The socket lives in the agent's private state folder and is made 0600, so only the agent's account
// (root / SYSTEM) can ask; anyone else gets EACCES and `rmagent status` says to use sudo. On Windows the pipe
// gets a fresh random name at each start, recorded in the state folder (ipc-endpoint.ts says why and how).
// An endpoint somebody else holds is refused with code IPC_ENDPOINT_TAKEN: the agent does not start.
import net from 'node:net';
import { randomBytes } from 'node:crypto';
import { fsAsync as fs } from './fs-async.js';
import { readTextIfExists, removeFile, writeJsonAtomic } from './files.js';
import { endpointTakenReason, parseEndpointRecord, planClientEndpoint, planServerEndpoint, type RecordRead } from './ipc-endpoint.js';

export const MAX_REQUEST_BYTES = 64 * 1024;

export interface LocalServer {
  /** What it listens on (the pipe's random name on Windows). */
  endpoint: string;
  close(): Promise<void>;
}

export interface EndpointOptions {
  /** The platform whose naming rules apply (default: this one). */
  platform?: NodeJS.Platform;
  /** Where pipes are named (default \\.\pipe\; tests on Linux use a folder, so the Windows flow runs over Unix sockets). */
  pipePrefix?: string;
}

const endpointTaken = (reason: string) => Object.assign(new Error(reason), { code: 'IPC_ENDPOINT_TAKEN' });

export async function serveLocal(ipcPath: string, handle: (request: unknown) => Promise<unknown>, options: EndpointOptions = {}): Promise<LocalServer> {
  const endpoint = planServerEndpoint(ipcPath, options.platform ?? process.platform, randomBytes(16).toString('hex'), options.pipePrefix);
  const socketPath = endpoint.listen;
  if (process.platform !== 'win32') await removeStaleSocket(socketPath);
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.setTimeout(5_000, () => socket.destroy());
    let buffer = '';
    socket.setEncoding('utf8');
    socket.on('error', () => socket.destroy());
    socket.on('data', (chunk: string) => {
      buffer += chunk;
      if (buffer.length > MAX_REQUEST_BYTES) return answer(socket, { error: { code: 'FRAME_TOO_LARGE', message: 'request too large' } });
      const nl = buffer.indexOf('\n');
      if (nl < 0) return;
      const line = buffer.slice(0, nl);
      buffer = '';
      let request: unknown;
      try {
        request = JSON.parse(line);
      } catch {
        return answer(socket, { error: { code: 'FRAME_INVALID', message: 'request is not JSON' } });
      }
      handle(request).then(
        (result) => answer(socket, result),
        (err: unknown) => answer(socket, { error: { code: 'INTERNAL', message: err instanceof Error ? err.message : String(err) } }),
      );
    });
  });
  const oldMask = process.platform !== 'win32' ? process.umask(0o177) : 0;
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', (err: NodeJS.ErrnoException) => {
        const taken = endpointTakenReason(err.code, socketPath);
        reject(taken ? endpointTaken(taken) : err);
      });
      server.listen(socketPath, () => { server.removeAllListeners('error'); resolve(); });
    });
  } finally {
    if (process.platform !== 'win32') process.umask(oldMask);
  }
  if (process.platform !== 'win32') await fs.chmod(socketPath, 0o600);
  // Recorded only now that the name is ours: a client never learns a name somebody else could hold.
  if (endpoint.recordFile) await writeJsonAtomic(endpoint.recordFile, { pipe: socketPath, pid: process.pid });
  const recordFile = endpoint.recordFile;
  return {
    endpoint: socketPath,
    close: async () => {
      if (recordFile) {
        const current = parseEndpointRecord((await readTextIfExists(recordFile).catch(() => undefined)) ?? '', options.pipePrefix);
        if (current?.pipe === socketPath) await removeFile(recordFile).catch(() => undefined);
      }
      await new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      });
    },
  };
}

function answer(socket: net.Socket, value: unknown): void {
  if (socket.destroyed) return;
  socket.end(`${JSON.stringify(value)}\n`);
}

// A socket file left by a killed daemon blocks listen(); remove it only if nobody answers on it.
async function removeStaleSocket(socketPath: string): Promise<void> {
  try {
    await fs.lstat(socketPath);
  } catch {
    return;
  }
  const alive = await new Promise<boolean>((resolve) => {
    const probe = net.connect(socketPath);
    probe.once('connect', () => { probe.destroy(); resolve(true); });
    probe.once('error', () => resolve(false));
  });
  if (alive) throw endpointTaken(`another process is already listening on ${socketPath} (another agent?)`);
  await removeFile(socketPath);
}

export type LocalAnswer = { ok: true; value: unknown } | { ok: false; reason: 'not-running' | 'denied' | 'timeout' | 'invalid'; message: string };

export async function requestLocal(ipcPath: string, request: unknown, timeoutMs = 3_000, options: EndpointOptions = {}): Promise<LocalAnswer> {
  const platform = options.platform ?? process.platform;
  const record = platform === 'win32' ? await readRecord(ipcPath) : null;
  const target = planClientEndpoint(ipcPath, platform, record, isAlive, options.pipePrefix);
  if ('fail' in target) return { ok: false, reason: target.fail, message: target.message };
  return ask(target.connect, request, timeoutMs);
}

async function readRecord(file: string): Promise<RecordRead> {
  try {
    const text = await readTextIfExists(file);
    return text === undefined ? { status: 'missing' } : { status: 'ok', text };
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    return code === 'EACCES' || code === 'EPERM' ? { status: 'denied' } : { status: 'missing' };
  }
}

// Signal 0 tests that a process exists (EPERM: it exists but is not ours to signal).
function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

// A socket at the name that another account made (it moved the agent's away, or squats a name the agent does not
// hold) would answer in the agent's place: only a socket of root or of this account is asked.
async function foreignSocket(socketPath: string): Promise<string | null> {
  if (process.platform === 'win32' || typeof process.geteuid !== 'function') return null;
  const st = await fs.lstat(socketPath).catch(() => null);
  if (!st || st.uid === 0 || st.uid === process.geteuid()) return null;
  return `${socketPath} belongs to uid ${st.uid}, not to root or this account: not asked`;
}

async function ask(socketPath: string, request: unknown, timeoutMs: number): Promise<LocalAnswer> {
  const foreign = await foreignSocket(socketPath);
  if (foreign) return { ok: false, reason: 'not-running', message: foreign };
  return new Promise((resolve) => {
    const socket = net.connect(socketPath);
    let buffer = '';
    let settled = false;
    const finish = (a: LocalAnswer) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      resolve(a);
    };
    const timer = setTimeout(() => finish({ ok: false, reason: 'timeout', message: `no answer from ${socketPath} within ${timeoutMs} ms` }), timeoutMs);
    socket.setEncoding('utf8');
    socket.on('connect', () => socket.write(`${JSON.stringify(request)}\n`));
    socket.on('data', (chunk: string) => {
      buffer += chunk;
      if (buffer.length > 16 * 1024 * 1024) finish({ ok: false, reason: 'invalid', message: 'answer too large' });
    });
    socket.on('end', () => {
      try {
        finish({ ok: true, value: JSON.parse(buffer) });
      } catch {
        finish({ ok: false, reason: 'invalid', message: 'answer is not JSON' });
      }
    });
    socket.on('error', (err: NodeJS.ErrnoException) => {
      const denied = err.code === 'EACCES' || err.code === 'EPERM';
      finish({ ok: false, reason: denied ? 'denied' : 'not-running', message: `${socketPath}: ${err.code ?? err.message}` });
    });
  });
}
