// The local IPC edge: one JSON request line in, one JSON answer line out, over a Unix socket or named pipe.
// The socket lives in the agent's private state folder and is made 0600, so only the agent's account
// (root / SYSTEM) can ask; anyone else gets EACCES and `rmagent status` says to use sudo.
import net from 'node:net';
import { promises as fs } from 'node:fs';
import { removeFile } from './files.js';

export const MAX_REQUEST_BYTES = 64 * 1024;

export interface LocalServer {
  close(): Promise<void>;
}

export async function serveLocal(socketPath: string, handle: (request: unknown) => Promise<unknown>): Promise<LocalServer> {
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
      server.once('error', reject);
      server.listen(socketPath, () => { server.off('error', reject); resolve(); });
    });
  } finally {
    if (process.platform !== 'win32') process.umask(oldMask);
  }
  if (process.platform !== 'win32') await fs.chmod(socketPath, 0o600);
  return {
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
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
  if (alive) throw Object.assign(new Error(`another agent is already listening on ${socketPath}`), { code: 'EADDRINUSE' });
  await removeFile(socketPath);
}

export type LocalAnswer = { ok: true; value: unknown } | { ok: false; reason: 'not-running' | 'denied' | 'timeout' | 'invalid'; message: string };

export function requestLocal(socketPath: string, request: unknown, timeoutMs = 3_000): Promise<LocalAnswer> {
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
