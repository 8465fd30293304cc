// A protocol peer that speaks the server side of protocol v2 with our own protocol helpers, so command
// latency measures the agent (verify, replay guard, apply, ack) and not the reference server's store.
// Commands are signed with the peer's own key, pinned at `rmagent enroll --server-key`.
import { randomBytes } from 'node:crypto';
import { newNonce, serverHello, welcomeFrame } from '../../src/protocol/handshake.js';
import type { AddressInfo } from 'node:net';
import { WebSocketServer, WebSocket } from 'ws';
import { AGENT_TO_SERVER, encodeFrame, makeFrame, parseFrame, type BodyOf, type CommandType, type Frame } from '../../src/protocol/frames.js';
import type { DesiredState } from '../../src/protocol/model.js';
import { generateKeyPair, signFrame } from '../../src/protocol/sign.js';

export interface AckResult {
  status: 'accepted' | 'rejected' | 'done' | 'failed';
  ms: number;
  reason?: string;
}

export interface Peer {
  agentUrl: string;
  serverKey: string;
  /** Resolves with the device id once an agent has enrolled or authenticated. */
  online(timeoutMs: number): Promise<string>;
  /** Signs and sends a command; resolves on its final ack (done/failed/rejected) with ms since send. */
  command<T extends CommandType>(type: T, body: Omit<BodyOf<T>, 'deviceId'>, timeoutMs: number): Promise<AckResult>;
  /** Signs and encodes a command now, to be sent later: an open-loop run then spends its time sending only. */
  prepare<T extends CommandType>(type: T, body: Omit<BodyOf<T>, 'deviceId'>): PreparedCommand;
  /** Sends a prepared command; resolves like command(). */
  sendPrepared(command: PreparedCommand, timeoutMs: number): Promise<AckResult>;
  reportsAcked(): number;
  close(): Promise<void>;
}

type AckBody = BodyOf<'ack'>;

export interface PreparedCommand {
  id: string;
  text: string;
}

export async function startPeer(desired: (deviceId: string) => DesiredState): Promise<Peer> {
  const key = generateKeyPair();
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, path: '/agent' });
  await new Promise<void>((resolve) => wss.once('listening', () => resolve()));
  const port = (wss.address() as AddressInfo).port;
  let socket: WebSocket | null = null;
  let deviceId: string | null = null;
  let lastSeq = 0;
  let reports = 0;
  const onlineWaiters: Array<(id: string) => void> = [];
  const pending = new Map<string, { sentAt: number; resolve: (r: AckResult) => void }>();

  const send = (ws: WebSocket, frame: Frame) => ws.send(encodeFrame(frame));
  const sign = <T extends CommandType>(type: T, body: BodyOf<T>): Frame<T> => signFrame(makeFrame(type, body, Date.now()), key.privateKeyPem);

  const admit = (ws: WebSocket, agentNonce: string, id: string, enrolled: boolean) => {
    socket = ws;
    deviceId = id;
    send(ws, welcomeFrame({ agentNonce, deviceId: id, enrolled, heartbeatSec: 30, lastSeq, serverKey: key, now: Date.now() }));
    send(ws, sign('desired', { deviceId: id, state: desired(id) }));
    for (const w of onlineWaiters.splice(0)) w(id);
  };

  // A final ack (done/failed/rejected) resolves its command; "accepted" is only the first of two.
  const settle = (ack: AckBody) => {
    const p = pending.get(ack.commandId);
    if (!p || ack.status === 'accepted') return;
    pending.delete(ack.commandId);
    p.resolve({ status: ack.status, ms: performance.now() - p.sentAt, ...(ack.reason ? { reason: `${ack.reason.code}: ${ack.reason.message}` } : {}) });
  };

  wss.on('connection', (ws) => {
    let agentNonce = '';
    ws.on('message', (raw) => {
      const text = raw.toString();
      // Acks are most of the traffic under load: read them without the full protocol parse, so the peer's own
      // CPU does not cap the rate it can offer (the agent's frames are validated by the protocol tests).
      if (text.includes('"type":"ack"')) {
        const ack = JSON.parse(text) as { type?: string; body?: { commandId?: string; status?: AckResult['status']; reason?: { code: string; message: string } } };
        if (ack.type === 'ack' && ack.body?.commandId && ack.body.status) return settle(ack.body as AckBody);
      }
      const parsed = parseFrame(text, { accept: AGENT_TO_SERVER });
      if (!parsed.ok) return;
      const frame = parsed.frame;
      if (frame.type === 'agent.hello') {
        agentNonce = frame.body.nonce;
        return send(ws, serverHello({ hello: frame.body, nonce: newNonce(), channel: { kind: 'none' }, serverKey: key, now: Date.now() }));
      }
      if (frame.type === 'enroll') return admit(ws, agentNonce, deviceId ?? `dev-bench-${randomBytes(4).toString('hex')}`, true);
      // The bench trusts its one agent; the reference server verifies the proof.
      if (frame.type === 'auth') return admit(ws, agentNonce, frame.body.deviceId, false);
      if (frame.type === 'report') {
        lastSeq = Math.max(lastSeq, frame.body.seq);
        reports += 1;
        return send(ws, makeFrame('report.ack', { upTo: lastSeq }));
      }
      if (frame.type === 'ack') settle(frame.body);
    });
  });

  const prepare: Peer['prepare'] = (type, body) => {
    if (!deviceId) throw new Error('no agent online');
    const frame = sign(type, { ...body, deviceId } as BodyOf<typeof type>);
    return { id: frame.id, text: encodeFrame(frame) };
  };
  const sendPrepared: Peer['sendPrepared'] = (command, timeoutMs) => {
    const ws = socket;
    if (!ws || ws.readyState !== WebSocket.OPEN) return Promise.resolve({ status: 'failed', ms: NaN, reason: 'no agent online' });
    return new Promise<AckResult>((resolve) => {
      const timer = setTimeout(() => {
        pending.delete(command.id);
        resolve({ status: 'failed', ms: NaN, reason: `no ack within ${timeoutMs} ms` });
      }, timeoutMs);
      pending.set(command.id, { sentAt: performance.now(), resolve: (r) => { clearTimeout(timer); resolve(r); } });
      ws.send(command.text);
    });
  };

  return {
    agentUrl: `ws://127.0.0.1:${port}/agent`,
    serverKey: key.publicKey,
    online: (timeoutMs) =>
      deviceId && socket
        ? Promise.resolve(deviceId)
        : new Promise((resolve, reject) => {
            const timer = setTimeout(() => reject(new Error(`no agent connected to the peer within ${timeoutMs} ms`)), timeoutMs);
            onlineWaiters.push((id) => { clearTimeout(timer); resolve(id); });
          }),
    command: (type, body, timeoutMs) => (deviceId ? sendPrepared(prepare(type, body), timeoutMs) : Promise.resolve({ status: 'failed', ms: NaN, reason: 'no agent online' })),
    prepare,
    sendPrepared,
    reportsAcked: () => reports,
    close: () =>
      new Promise<void>((resolve) => {
        for (const c of wss.clients) c.terminate();
        wss.close(() => resolve());
      }),
  };
}
