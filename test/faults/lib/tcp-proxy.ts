// A TCP proxy on 127.0.0.1 between the agent and the server that a test steers: pass traffic, delay it, stall
// the open connections (stop forwarding without closing: a half-open peer; new connections still pass), cut
// every connection, or refuse new ones.
import net from 'node:net';

export type ProxyMode = 'pass' | 'refuse';
interface Pair { a: net.Socket; b: net.Socket; stalled: boolean }

export interface TcpProxy {
  port: number;
  set(mode: ProxyMode, delayMs?: number): void;
  /** The open connections stop forwarding in both directions and stay open. */
  stall(): void;
  /** Destroys every open connection (both sides see a reset). */
  cut(): void;
  connections(): number;
  close(): Promise<void>;
}

export async function startTcpProxy(targetPort: number): Promise<TcpProxy> {
  let mode: ProxyMode = 'pass';
  let delayMs = 0;
  const pairs = new Set<Pair>();
  // Equal delays keep order: timers of the same duration fire in the order they were set.
  const pipe = (pair: Pair, from: net.Socket, to: net.Socket) =>
    from.on('data', (chunk: Buffer) => {
      if (pair.stalled) return; // swallowed: the peer looks alive to TCP but never answers
      if (delayMs === 0) to.write(chunk);
      else setTimeout(() => !to.destroyed && to.write(chunk), delayMs);
    });
  const server = net.createServer((a) => {
    if (mode === 'refuse') return void a.destroy();
    const b = net.connect(targetPort, '127.0.0.1');
    const pair: Pair = { a, b, stalled: false };
    pairs.add(pair);
    const end = () => {
      pairs.delete(pair);
      a.destroy();
      b.destroy();
    };
    a.on('error', end).on('close', end);
    b.on('error', end).on('close', end);
    pipe(pair, a, b);
    pipe(pair, b, a);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    set(next, delay = 0) {
      mode = next;
      delayMs = delay;
    },
    stall() {
      for (const pair of pairs) pair.stalled = true;
    },
    cut() {
      for (const { a, b } of pairs) {
        a.resetAndDestroy();
        b.resetAndDestroy();
      }
      pairs.clear();
    },
    connections: () => pairs.size,
    close: () =>
      new Promise<void>((resolve) => {
        for (const { a, b } of pairs) {
          a.destroy();
          b.destroy();
        }
        server.close(() => resolve());
      }),
  };
}

/** A loopback port nothing listens on (bound, then released). */
export async function freePort(): Promise<number> {
  const probe = net.createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const { port } = probe.address() as net.AddressInfo;
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  return port;
}
