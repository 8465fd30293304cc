// From a hostile review: the per-address cap counts agent connections from the HTTP upgrade on. Sockets that
// never finish their upgrade request (a request line and nothing more; over TLS, not even a ClientHello) are not
// counted anywhere: one address holds as many as it likes, each for the headers timeout (10 s, checked by Node
// every 30 s: 100 such sockets were answered 408 and closed after ~30 s) or, over TLS with no ClientHello at all,
// the TLS handshake timeout (100 silent sockets held 120 s, measured on the built server with --tls-cert). With LimitNOFILE=65536 (docs/scaling.md) one address can fill
// the file descriptors and every agent and API client then meets a failing accept.
// Expected (the defence): the per-address bound applies from the TCP connection (or such sockets are few and
// short-lived), so one address with a cap of 10 does not hold hundreds of sockets. Failed before the TCP-level
// count in src/server/gateway.ts (checked by putting the old gateway.ts and server.ts back: held ~400).
import { existsSync, readdirSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { spawnNode, waitForEvent, type Spawned } from '../../src/cli/processes.js';
import { tempDir } from './helpers.js';

const script = path.resolve('build/src/cli/rmagent-server.js');
const ATTEMPTS = 400;
beforeAll(() => expect(existsSync(script), 'run npm run build first').toBe(true));

const running: Spawned[] = [];
const sockets: net.Socket[] = [];
afterEach(async () => {
  for (const s of sockets.splice(0)) s.destroy();
  for (const proc of running.splice(0)) await proc.stop('SIGTERM', 15_000);
});

describe('sockets that never finish the upgrade request', () => {
  it('are bounded per address like agent connections', async () => {
    const proc = spawnNode(script, ['--listen', '127.0.0.1:0', '--data', await tempDir(), '--log-level', 'error', '--max-agent-connections-per-address', '10']);
    running.push(proc);
    const { port } = await waitForEvent<{ port: number }>(proc, 'listening');
    const fds = () => readdirSync(`/proc/${proc.child.pid}/fd`).length;
    const before = fds();
    let closedByServer = 0;
    for (let i = 0; i < ATTEMPTS; i += 50) {
      await Promise.all(Array.from({ length: 50 }, () => new Promise<void>((resolve) => {
        const s = net.connect({ host: '127.0.0.1', port, localAddress: '127.0.0.1' }, () => {
          s.write('GET /agent HTTP/1.1\r\nHost: 127.0.0.1\r\n'); // and nothing more
          resolve();
        });
        s.on('error', () => resolve());
        s.on('close', () => { closedByServer += 1; });
        sockets.push(s);
      })));
    }
    await new Promise((r) => setTimeout(r, 5_000));
    const held = fds() - before;
    expect(held, `${ATTEMPTS} unfinished upgrade requests from one address (cap 10): the server holds ${held} more descriptors after 5 s (${closedByServer} closed by it)`).toBeLessThan(100);
  }, 90_000);
});
