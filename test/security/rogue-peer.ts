// A rogue endpoint for the attack tests against the built agent: a WebSocket server on loopback (ws://, or wss://
// with a certificate the device trusts) that speaks rmagent.v2, records every frame the device sends, and either
// answers by itself (`onAgent`) or relays to a real server (`relayTo`) with a hook on what comes back
// (`onServer`: pass, drop, replace, record, inject). `kick()` drops the device's socket so it reconnects.
import { readFileSync } from 'node:fs';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import WebSocket, { WebSocketServer } from 'ws';
import { SUBPROTOCOL } from '../../src/protocol/handshake.js';
import type { Frame } from '../../src/protocol/frames.js';

/** What a hook may do with the connection it sees. */
export interface Wire {
  /** To the device. */
  toAgent(frame: Frame | string): void;
  /** To the real server (relay mode). */
  toServer(text: string): void;
  /** Closes the device's socket. */
  close(code?: number): void;
}

export interface RoguePeer {
  url: string;
  /** Every text the device sent, in order, over every connection. */
  heard: string[];
  /** Every text the real server sent, in order (relay mode). */
  fromServer: string[];
  /** Connections the device opened. */
  connections(): number;
  /** The current connection's wire, if any. */
  wire(): Wire | null;
  kick(): void;
  close(): Promise<void>;
}

export const typeOf = (text: string): string => {
  try {
    return String((JSON.parse(text) as { type?: unknown }).type);
  } catch {
    return '(not JSON)';
  }
};

export async function roguePeer(opts: {
  cert?: { certFile: string; keyFile: string };
  relayTo?: { url: string; ca?: Buffer };
  /** Each frame of the device (after it is recorded and, in relay mode, passed on unless `relay` returns false). */
  onAgent?: (text: string, wire: Wire) => void;
  /** Each frame of the real server; the default passes it on. */
  onServer?: (text: string, wire: Wire) => void;
  /** Relay mode: whether to pass this device frame on (default yes). */
  relay?: (text: string) => boolean;
}): Promise<RoguePeer> {
  const http = opts.cert ? https.createServer({ cert: readFileSync(opts.cert.certFile), key: readFileSync(opts.cert.keyFile) }) : null;
  const handleProtocols = (offered: Set<string>) => (offered.has(SUBPROTOCOL) ? SUBPROTOCOL : false);
  const wss = http
    ? new WebSocketServer({ server: http, path: '/agent', handleProtocols })
    : new WebSocketServer({ host: '127.0.0.1', port: 0, path: '/agent', handleProtocols });
  await (http ? new Promise<void>((r) => http.listen(0, '127.0.0.1', () => r())) : new Promise<void>((r) => wss.once('listening', () => r())));
  const port = ((http ?? wss).address() as AddressInfo).port;
  const heard: string[] = [];
  const fromServer: string[] = [];
  const upstreams = new Set<WebSocket>();
  let current: { ws: WebSocket; wire: Wire } | null = null;
  let count = 0;

  wss.on('connection', (ws) => {
    count += 1;
    let upstream: WebSocket | null = null;
    const queued: string[] = [];
    const wire: Wire = {
      toAgent: (f) => { if (ws.readyState === WebSocket.OPEN) ws.send(typeof f === 'string' ? f : JSON.stringify(f)); },
      toServer: (t) => {
        if (!upstream) return;
        if (upstream.readyState === WebSocket.OPEN) upstream.send(t);
        else queued.push(t);
      },
      close: (code = 1011) => { if (ws.readyState === WebSocket.OPEN) ws.close(code); },
    };
    current = { ws, wire };
    if (opts.relayTo) {
      upstream = new WebSocket(opts.relayTo.url, [SUBPROTOCOL], opts.relayTo.ca ? { ca: opts.relayTo.ca } : {});
      upstreams.add(upstream);
      upstream.on('open', () => { for (const t of queued.splice(0)) upstream!.send(t); });
      upstream.on('message', (raw) => {
        const text = raw.toString();
        fromServer.push(text);
        if (opts.onServer) opts.onServer(text, wire);
        else wire.toAgent(text);
      });
      upstream.on('close', () => ws.close());
      upstream.on('error', () => ws.close());
    }
    ws.on('message', (raw) => {
      const text = raw.toString();
      heard.push(text);
      if (upstream && (opts.relay?.(text) ?? true)) wire.toServer(text);
      opts.onAgent?.(text, wire);
    });
    ws.on('close', () => {
      if (upstream) {
        upstream.terminate();
        upstreams.delete(upstream);
      }
      if (current?.ws === ws) current = null;
    });
  });

  return {
    url: `${opts.cert ? 'wss' : 'ws'}://127.0.0.1:${port}/agent`,
    heard,
    fromServer,
    connections: () => count,
    wire: () => current?.wire ?? null,
    kick: () => current?.ws.terminate(),
    close: () => new Promise<void>((resolve) => {
      for (const u of upstreams) u.terminate();
      for (const c of wss.clients) c.terminate();
      wss.close(() => (http ? http.close(() => resolve()) : resolve()));
    }),
  };
}
