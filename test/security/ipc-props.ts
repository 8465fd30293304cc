// Hostile callers of the local IPC endpoint (serveLocal): random bytes, partial and huge lines, floods of
// connections. Every caller is answered with one JSON line or closed; the server stays up and bounded.
import net from 'node:net';
import fc from 'fast-check';
import { expect } from 'vitest';
import * as z from 'zod/mini';
import { MAX_REQUEST_BYTES, requestLocal, serveLocal, type LocalServer } from '../../src/system/local-socket.js';
import { hostileValue, isErrorCode, mutatedText, prototypeIsClean, type Tally } from './hostile.js';

const RequestSchema = z.strictObject({ method: z.enum(['status', 'reload', 'detect']) });

/** A handler shaped like the agent's: validate, then answer. */
export function startIpcServer(socketPath: string): Promise<LocalServer> {
  return serveLocal(socketPath, async (request) => {
    const parsed = RequestSchema.safeParse(request);
    if (!parsed.success) return { error: { code: 'FRAME_INVALID', message: 'expected {"method":"status"|"reload"|"detect"}' } };
    return { status: { health: 'healthy', method: parsed.data.method } };
  });
}

/** Sends chunks, then ends (or destroys) the socket; resolves with what came back. Bounded by timeoutMs. */
export function rawExchange(socketPath: string, chunks: readonly Uint8Array[], close: 'end' | 'destroy' | 'wait', timeoutMs = 7_000): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(socketPath);
    let answer = '';
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no answer and no close within ${timeoutMs} ms`));
    }, timeoutMs);
    const done = () => {
      clearTimeout(timer);
      resolve(answer);
    };
    socket.on('data', (d) => {
      answer += d.toString('utf8');
    });
    socket.on('close', done);
    socket.on('error', () => undefined);
    socket.on('connect', () => {
      for (const c of chunks) socket.write(c);
      if (close === 'end') socket.end();
      if (close === 'destroy') socket.destroy();
    });
  });
}

/** An answer is nothing (closed) or exactly one JSON line: a typed error or the status. */
export function isValidAnswer(answer: string): boolean {
  if (answer === '') return true;
  if (!answer.endsWith('\n') || answer.indexOf('\n') !== answer.length - 1) return false;
  const value = JSON.parse(answer) as { error?: { code?: unknown }; status?: unknown };
  return value.status !== undefined || isErrorCode(value.error?.code);
}

async function stillServes(socketPath: string): Promise<void> {
  const a = await requestLocal(socketPath, { method: 'status' }, 5_000);
  expect(a).toMatchObject({ ok: true, value: { status: { health: 'healthy' } } });
}

const validRequest = fc.constantFrom('{"method":"status"}\n', '{"method":"detect"}\n');
const payload = fc.oneof(
  mutatedText(validRequest).map((t) => Buffer.from(t, 'utf8')),
  hostileValue.map((v) => Buffer.from(`${JSON.stringify(v) ?? ''}\n`, 'utf8')),
  fc.uint8Array({ maxLength: 512 }),
  fc.constantFrom(Buffer.from('\n'), Buffer.from('\n\n\n'), Buffer.from('{"method":"status"}\n{"method":"x"}\n'), Buffer.from([0xff, 0xfe, 0x0a])),
);
// Split a payload into 1-4 writes so partial lines arrive in separate chunks.
const chunked = payload.chain((p) => fc.array(fc.nat(p.length), { maxLength: 3 }).map((cuts) => {
  const at = [0, ...[...new Set(cuts)].sort((a, b) => a - b), p.length];
  return at.slice(1).map((end, i) => p.subarray(at[i]!, end));
}));

export async function runIpcProperties(runs: number, tally: Tally, socketPath: string, opts: { floodConnections: number; hugeBytes: number }): Promise<void> {
  const server = await startIpcServer(socketPath);
  try {
    await fc.assert(
      fc.asyncProperty(chunked, fc.constantFrom<'end' | 'destroy'>('end', 'end', 'destroy'), async (chunks, close) => {
        const answer = await rawExchange(socketPath, chunks, close);
        return isValidAnswer(answer) && prototypeIsClean();
      }),
      { numRuns: runs },
    );
    tally.add('IPC: random/partial/mutated requests', runs);
    await stillServes(socketPath);

    // A line far above the limit: refused with FRAME_TOO_LARGE, not buffered without end.
    const huge = Buffer.alloc(opts.hugeBytes, 'x');
    const answer = await rawExchange(socketPath, [huge], 'wait');
    expect(JSON.parse(answer)).toMatchObject({ error: { code: 'FRAME_TOO_LARGE' } });
    expect(opts.hugeBytes).toBeGreaterThan(MAX_REQUEST_BYTES);
    tally.add('IPC: oversize requests', 1);

    // Many callers at once that never finish their line: the server still answers a real caller, then sheds them.
    const idle: net.Socket[] = [];
    await Promise.all(
      Array.from({ length: opts.floodConnections }, () => new Promise<void>((resolve) => {
        const s = net.connect(socketPath, () => {
          s.write('{"method":');
          resolve();
        });
        s.on('error', () => resolve());
        idle.push(s);
      })),
    );
    await stillServes(socketPath);
    const floodAnswers = await Promise.all(Array.from({ length: Math.min(opts.floodConnections, 500) }, () => requestLocal(socketPath, { method: 'status' }, 10_000)));
    expect(floodAnswers.filter((a) => a.ok).length).toBe(floodAnswers.length);
    for (const s of idle) s.destroy();
    tally.add('IPC: concurrent idle + live connections', opts.floodConnections + floodAnswers.length);
    await stillServes(socketPath);
  } finally {
    await server.close();
  }
}
