// A protocol 2 server stand-in that holds a server key (so everything it signs verifies on a device that pins it):
// it speaks the handshake with the shared builders, answers reports, and signs any command a test asks for, with
// any timestamp. Options: its clock offset, the active keys and endorsements it presents, TLS with a certificate.
import { readFileSync } from 'node:fs';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { WebSocketServer, type WebSocket } from 'ws';
import { waitUntil } from '../../src/cli/processes.js';
import { AGENT_TO_SERVER, encodeFrame, makeFrame, parseFrame, type BodyOf, type CommandType, type Frame } from '../../src/protocol/frames.js';
import { channelOf, newNonce, serverHello, welcomeFrame } from '../../src/protocol/handshake.js';
import type { Endorsement } from '../../src/protocol/key-chain.js';
import { generateKeyPair, signFrame, type KeyPair } from '../../src/protocol/sign.js';

export interface KeyPeerOptions {
  offsetMs?: number;
  key?: KeyPair;
  activeKeys?: string[];
  endorsements?: Endorsement[];
  tls?: { certFile: string; keyFile: string };
}

/** The server side of protocol 2 with a key of its own; its clock runs `offsetMs` ahead of the machine's. */
export async function keyPeer(options: KeyPeerOptions | number = {}) {
  const opts = typeof options === 'number' ? { offsetMs: options } : options;
  const offsetMs = opts.offsetMs ?? 0;
  const key = opts.key ?? generateKeyPair();
  const http = opts.tls ? https.createServer({ cert: readFileSync(opts.tls.certFile), key: readFileSync(opts.tls.keyFile) }) : null;
  const wss = http ? new WebSocketServer({ server: http, path: '/agent' }) : new WebSocketServer({ host: '127.0.0.1', port: 0, path: '/agent' });
  await (http ? new Promise<void>((r) => http.listen(0, '127.0.0.1', () => r())) : new Promise<void>((r) => wss.once('listening', () => r())));
  const now = (): number => Date.now() + offsetMs;
  const received: Frame[] = [];
  /** The welcomes it sent, oldest first. */
  const welcomes: Frame<'welcome'>[] = [];
  const peer = {
    key,
    url: `${http ? 'wss' : 'ws'}://127.0.0.1:${((http ?? wss).address() as AddressInfo).port}/agent`,
    socket: null as WebSocket | null,
    received,
    welcomes,
    lastSeq: 0,
    ackReports: true,
    connections: 0,
    now,
    command<T extends CommandType>(type: T, body: Omit<BodyOf<T>, 'deviceId'>, ts: number = now()): Frame<T> {
      const frame = signFrame(makeFrame(type, { deviceId: 'dev-1', ...body } as BodyOf<T>, ts), key.privateKeyPem);
      peer.socket!.send(encodeFrame(frame));
      return frame;
    },
    send(frame: Frame): void {
      peer.socket!.send(encodeFrame(frame));
    },
    finalAck: (id: string) => waitUntil(async () => received.find((f): f is Frame<'ack'> => f.type === 'ack' && f.body.commandId === id && f.body.status !== 'accepted')?.body, 20_000, `final ack of ${id}`),
    close: () => new Promise<void>((r) => { for (const c of wss.clients) c.terminate(); wss.close(() => (http ? http.close(() => r()) : r())); }),
  };
  wss.on('connection', (ws, req) => {
    peer.socket = ws;
    peer.connections += 1;
    let agentNonce = '';
    const channel = channelOf(req.socket);
    ws.on('message', (raw) => {
      const parsed = parseFrame(raw.toString(), { accept: AGENT_TO_SERVER });
      if (!parsed.ok) return;
      const f = parsed.frame;
      peer.received.push(f);
      if (f.type === 'agent.hello') {
        agentNonce = f.body.nonce;
        ws.send(encodeFrame(serverHello({ hello: f.body, nonce: newNonce(), channel, serverKey: key, now: peer.now(), ...(opts.endorsements ? { endorsements: opts.endorsements } : {}), ...(opts.activeKeys ? { activeKeys: opts.activeKeys } : {}) })));
      } else if (f.type === 'enroll' || f.type === 'auth') {
        const welcome = welcomeFrame({ agentNonce, deviceId: 'dev-1', enrolled: f.type === 'enroll', heartbeatSec: 30, lastSeq: peer.lastSeq, serverKey: key, now: peer.now() });
        welcomes.push(welcome);
        ws.send(encodeFrame(welcome));
      } else if (f.type === 'report') {
        peer.lastSeq = Math.max(peer.lastSeq, f.body.seq);
        if (peer.ackReports) ws.send(encodeFrame(makeFrame('report.ack', { upTo: peer.lastSeq })));
      }
    });
  });
  return peer;
}
export type Peer = Awaited<ReturnType<typeof keyPeer>>;
