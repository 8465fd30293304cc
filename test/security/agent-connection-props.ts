// A rogue or compromised server (or anyone on a ws:// path) against the agent's real connection code:
// after a normal enrollment, it sends mutated, forged, replayed and garbage frames. The agent executes
// only commands signed by the pinned key for this device (never one twice), answers the rest with typed
// errors or rejections, sends only valid frames, and stays connected.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import fc from 'fast-check';
import { expect } from 'vitest';
import { WebSocketServer, type WebSocket } from 'ws';
import { createConnection } from '../../src/agent/connection.js';
import { createIdentityStore, registerDevice } from '../../src/agent/identity.js';
import { createOutbox } from '../../src/agent/outbox.js';
import { createReplayGuard } from '../../src/agent/replay.js';
import type { CommandHandler } from '../../src/agent/contracts.js';
import { configSchema } from '../../src/config/schema.js';
import { AGENT_TO_SERVER, COMMAND_TYPES, encodeFrame, makeFrame, parseFrame, type Frame } from '../../src/protocol/frames.js';
import { canonicalJson, generateKeyPair, signFrame } from '../../src/protocol/sign.js';
import { newNonce, serverHello, welcomeFrame } from '../../src/protocol/handshake.js';
import { createCommandRunner } from '../../src/system/exec.js';
import { systemClock } from '../../src/system/clock.js';
import { silentLogger } from '../../src/log.js';
import { isErrorCode, mutateAt, mutatedText, mutation, prototypeIsClean, type Tally } from './hostile.js';
import { VALID_BODIES, VALID_FRAMES } from './protocol-props.js';

const FACTS = { hostname: 'pc', platform: 'linux', arch: 'x64', osRelease: '6', agentVersion: '0.1.0', alias: null, teamviewer: null };
const until = async (what: string, check: () => boolean, ms = 10_000) => {
  for (const end = Date.now() + ms; Date.now() < end; await new Promise((r) => setTimeout(r, 5))) if (check()) return;
  throw new Error(`timed out waiting for ${what}`);
};

export async function runAgentConnectionProperties(runs: number, tally: Tally): Promise<{ frames: number }> {
  const key = generateKeyPair();
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, path: '/agent' });
  await new Promise<void>((r) => wss.once('listening', () => r()));
  const url = `ws://127.0.0.1:${(wss.address() as AddressInfo).port}/agent`;
  let socket: WebSocket | null = null;
  let connections = 0;
  const fromAgent: Frame[] = [];
  const invalidFromAgent: string[] = [];
  wss.on('connection', (ws) => {
    connections += 1;
    socket = ws;
    let agentNonce = '';
    ws.on('message', (raw) => {
      const parsed = parseFrame(raw.toString(), { accept: AGENT_TO_SERVER });
      if (!parsed.ok) return void invalidFromAgent.push(parsed.message);
      fromAgent.push(parsed.frame);
      const f = parsed.frame;
      if (f.type === 'agent.hello') {
        agentNonce = f.body.nonce;
        ws.send(encodeFrame(serverHello({ hello: f.body, nonce: newNonce(), channel: { kind: 'none' }, serverKey: key, now: Date.now() })));
      }
      if (f.type === 'enroll' || f.type === 'auth') ws.send(encodeFrame(welcomeFrame({ agentNonce, deviceId: 'dev-1', enrolled: f.type === 'enroll', heartbeatSec: 30, lastSeq: 0, serverKey: key, now: Date.now() })));
    });
  });

  const stateDir = mkdtempSync(path.join(tmpdir(), 'rmagent-rogue-'));
  await registerDevice({ stateDir, machineId: 'm1', serverUrl: url, token: 'token-abcdefgh', clock: systemClock });
  const config = configSchema().parse({ stateDir, logDir: stateDir, connection: { backoffBaseMs: 20, backoffMaxMs: 200 } });
  const context = { config, logger: silentLogger(), runner: createCommandRunner(), clock: systemClock };
  const outbox = createOutbox({ dir: path.join(stateDir, 'outbox'), maxBytes: 1 << 20, clock: systemClock, logger: context.logger });
  const replay = createReplayGuard({ file: path.join(stateDir, 'replay.json'), windowMs: config.connection.commandWindowSec * 1000, clock: systemClock });
  await outbox.open();
  await replay.open();
  const executed: Frame[] = [];
  const onCommand: CommandHandler = async (frame) => {
    executed.push(frame);
    return { status: 'done' };
  };
  const connection = createConnection({ context, identity: createIdentityStore({ stateDir, machineId: 'm1', clock: systemClock, logger: context.logger }), outbox, replay, onCommand, deviceFacts: async () => FACTS });
  let frames = 0;
  try {
    connection.start();
    await until('connected', () => connection.status().phase === 'connected');
    const signedIds = new Set<string>();
    // Everything the server really signed, by id: a mutation that keeps the signed content (whitespace,
    // key order) is still a valid command and may run — once.
    const signed = new Map<string, string>();
    const freshCommand = fc.constantFrom(...COMMAND_TYPES).map((type) => {
      const f = signFrame(makeFrame(type, { ...(VALID_BODIES[type] as object), deviceId: 'dev-1' } as never, Date.now()), key.privateKeyPem);
      signed.set(f.id, canonicalJson(f));
      return f;
    });
    const serverFrames = VALID_FRAMES.filter((f) => !COMMAND_TYPES.includes(f.type as never) && f.type !== 'server.hello' && f.type !== 'welcome').map((f) => JSON.stringify(f));
    const hostile = fc.oneof(
      { arbitrary: fc.tuple(freshCommand, mutation).map(([f, m]) => JSON.stringify(mutateAt(f, m.steps, m.key, m.value))), weight: 4 },
      { arbitrary: mutatedText(freshCommand.map((f) => JSON.stringify(f))), weight: 2 },
      { arbitrary: fc.constantFrom(...serverFrames, ...VALID_FRAMES.filter((f) => f.type === 'server.hello' || f.type === 'welcome').map((f) => JSON.stringify(f))), weight: 1 },
      { arbitrary: freshCommand.map((f) => JSON.stringify({ ...f, sig: undefined })), weight: 1 }, // unsigned
      { arbitrary: freshCommand.map((f) => JSON.stringify(signFrame({ ...f, sig: undefined } as Frame, generateKeyPair().privateKeyPem))), weight: 1 }, // forged
    );
    let lastSentinel: Frame | null = null;
    await fc.assert(
      fc.asyncProperty(fc.array(hostile, { minLength: 1, maxLength: 6 }), async (texts) => {
        for (const t of texts) socket!.send(t);
        if (lastSentinel) socket!.send(encodeFrame(lastSentinel)); // a replay of the previous sentinel
        const sentinel = signFrame(makeFrame('status.request', { deviceId: 'dev-1' }, Date.now()), key.privateKeyPem);
        signedIds.add(sentinel.id);
        socket!.send(encodeFrame(sentinel));
        lastSentinel = sentinel;
        frames += texts.length + 2;
        await until('the sentinel ack', () => fromAgent.some((f) => f.type === 'ack' && f.body.commandId === sentinel.id && f.body.status === 'done'));
        return prototypeIsClean();
      }),
      { numRuns: runs },
    );
    tally.add('agent connection: frames from a rogue server', frames);
    await new Promise((r) => setTimeout(r, 50));
    expect(invalidFromAgent).toEqual([]);
    expect(connections).toBe(1);
    expect(connection.status().phase).toBe('connected');
    // Every sentinel ran; nothing ran twice; nothing ran that the server did not sign exactly so.
    const ids = executed.map((f) => f.id);
    expect(new Set(ids).size).toBe(ids.length);
    for (const id of signedIds) expect(ids).toContain(id);
    for (const f of executed) if (!signedIds.has(f.id)) expect(canonicalJson(f)).toBe(signed.get(f.id));
    console.log(`agent connection: ${runs} runs, ${executed.length} signed commands ran (sentinels and intact ones), none twice`);
    for (const f of fromAgent) {
      if (f.type === 'error') expect(isErrorCode(f.body.code), f.body.code).toBe(true);
      if (f.type === 'ack' && f.body.status === 'rejected') expect(isErrorCode(f.body.reason?.code), f.body.reason?.code).toBe(true);
    }
    return { frames };
  } finally {
    await connection.stop();
    await new Promise<void>((r) => { for (const c of wss.clients) c.terminate(); wss.close(() => r()); });
  }
}
