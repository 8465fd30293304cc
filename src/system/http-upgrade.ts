// The HTTP/1.1 upgrade request, and nothing else of HTTP: bundled as `http` and `https` into the agent's single
// executables only (installer/sea/build.sh), where `ws` is their one user and only ever asks a server to switch to
// WebSocket. Node's HTTP stack (http, https, _http_client, _http_server, the llhttp parser…) cost the idle agent
// ~0.5 MB of resident memory for that one request (bench/analysis.md, issue 19). The plain Node build and the server
// keep Node's http. What ws uses of a ClientRequest is here: 'upgrade' (101), 'response' (any other status),
// 'error', 'timeout', end(), abort(), destroy(), setHeader (ws tells a request from a socket by it), socket.
import { EventEmitter } from 'node:events';
import type { Duplex } from 'node:stream';

/** The response head: status and lower-cased headers (repeated ones joined with ", ", as Node's http joins them). */
export interface UpgradeResponse {
  statusCode: number;
  statusMessage: string;
  httpVersion: string;
  headers: Record<string, string>;
  socket: Duplex;
}

type Connect = (options: RequestOptions, done: (err: Error | null, socket?: Duplex) => void) => Duplex | undefined;

export interface RequestOptions {
  createConnection: Connect;
  host?: string;
  port?: number | string;
  defaultPort?: number;
  path?: string;
  method?: string;
  headers?: Record<string, string | number | string[] | undefined>;
  timeout?: number;
  [key: string]: unknown;
}

/** A response head larger than this is not a WebSocket server's answer. */
export const MAX_HEAD_BYTES = 16 * 1024;

const hangUp = (message: string) => Object.assign(new Error(message), { code: 'ECONNRESET' });

/** The request's bytes: request line, Host (with the port unless it is the default), the caller's headers. Pure. */
export function requestHead(options: RequestOptions): string {
  const host = options.host ?? 'localhost';
  const port = Number(options.port ?? options.defaultPort);
  const hostHeader = `${host.includes(':') ? `[${host}]` : host}${port && port !== options.defaultPort ? `:${port}` : ''}`;
  const lines = [`${options.method ?? 'GET'} ${options.path ?? '/'} HTTP/1.1`, `Host: ${hostHeader}`];
  for (const [name, value] of Object.entries(options.headers ?? {})) {
    if (value === undefined || /[\r\n]/.test(String(value)) || /[^!#$%&'*+.^_`|~0-9A-Za-z-]/.test(name)) continue;
    for (const v of Array.isArray(value) ? value : [value]) lines.push(`${name}: ${v}`);
  }
  return `${lines.join('\r\n')}\r\n\r\n`;
}

/** Parses a response head (without its final blank line); null when it is not HTTP/1.x. Pure. */
export function parseResponseHead(head: string): Omit<UpgradeResponse, 'socket'> | null {
  const [statusLine = '', ...headerLines] = head.split('\r\n');
  const status = /^HTTP\/(1\.[01]) (\d{3})(?: (.*))?$/.exec(statusLine);
  if (!status) return null;
  const headers: Record<string, string> = {};
  for (const line of headerLines) {
    const colon = line.indexOf(':');
    if (colon <= 0) return null;
    const name = line.slice(0, colon).trim().toLowerCase();
    const value = line.slice(colon + 1).trim();
    headers[name] = name in headers ? `${headers[name]}, ${value}` : value;
  }
  return { httpVersion: status[1]!, statusCode: Number(status[2]), statusMessage: status[3] ?? '', headers };
}

export class UpgradeRequest extends EventEmitter {
  socket: Duplex | null = null;
  private done = false;

  constructor(private readonly options: RequestOptions) {
    super();
  }

  setHeader(): void {
    // Headers come in the options; ws only checks that this method exists.
  }

  end(): void {
    // Made before connecting: ws's own tlsConnect clears `path` on the options it is handed (as Node's http, which
    // has read them by then, lets it).
    const head = requestHead(this.options);
    const onSocket = (err: Error | null, socket?: Duplex) => {
      if (err || !socket) return this.fail(err ?? hangUp('no connection'));
      if (this.done) return void socket.destroy();
      this.attach(socket, head);
    };
    try {
      const socket = this.options.createConnection(this.options, onSocket);
      if (socket) onSocket(null, socket);
    } catch (err) {
      this.fail(err as Error);
    }
  }

  abort(): void {
    this.done = true;
    this.socket?.destroy();
  }

  destroy(err?: Error): this {
    if (err && !this.done) this.fail(err);
    this.abort();
    return this;
  }

  private fail(err: Error): void {
    if (this.done) return;
    this.done = true;
    this.socket?.destroy();
    process.nextTick(() => this.emit('error', err));
  }

  private attach(socket: Duplex, head: string): void {
    this.socket = socket;
    let received = Buffer.alloc(0);
    const detach = () => {
      socket.off('data', onData).off('error', onError).off('end', onEnd).off('close', onEnd).off('timeout', onTimeout);
      if ('setTimeout' in socket && typeof socket.setTimeout === 'function') socket.setTimeout(0);
    };
    const onError = (err: Error) => { detach(); this.fail(err); };
    const onEnd = () => { detach(); this.fail(hangUp('socket hang up before the response head')); };
    const onTimeout = () => this.emit('timeout');
    const onData = (chunk: Buffer) => {
      received = Buffer.concat([received, chunk]);
      const end = received.indexOf('\r\n\r\n');
      if (end < 0) {
        if (received.length > MAX_HEAD_BYTES) onError(new Error(`response head over ${MAX_HEAD_BYTES} bytes`));
        return;
      }
      detach();
      const parsed = parseResponseHead(received.subarray(0, end).toString('latin1'));
      if (!parsed) return this.fail(Object.assign(new Error('Parse Error: not an HTTP/1.1 response'), { code: 'HPE_INVALID_CONSTANT' }));
      this.done = true;
      // As Node's http hands over an upgraded socket: neither flowing nor paused, so ws's 'data' listener starts it.
      socket.pause();
      (socket as Duplex & { readableFlowing: boolean | null }).readableFlowing = null;
      const res: UpgradeResponse = { ...parsed, socket };
      if (parsed.statusCode === 101) this.emit('upgrade', res, socket, received.subarray(end + 4));
      else this.emit('response', res);
    };
    socket.on('data', onData).on('error', onError).on('end', onEnd).on('close', onEnd);
    if (this.options.timeout && 'setTimeout' in socket && typeof socket.setTimeout === 'function') {
      socket.setTimeout(this.options.timeout);
      socket.on('timeout', onTimeout);
    }
    socket.write(head);
  }
}

export function request(options: RequestOptions): UpgradeRequest {
  return new UpgradeRequest(options);
}

export function get(): never {
  throw new Error('http.get is not in this build: only the WebSocket upgrade request is (src/system/http-upgrade.ts)');
}

export function createServer(): never {
  throw new Error('http.createServer is not in this build (src/system/http-upgrade.ts)');
}

// ws reads these: a status text for its server side (unused by a client), and Node's native masking (absent here,
// so ws masks in JavaScript, as it does on Node 24 itself).
export const STATUS_CODES: Record<number, string> = {};
export const websocketMask = undefined;
export const websocketUnmask = undefined;
