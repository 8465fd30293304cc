// Hostile agents against the reference server's gateway over real WebSocket connections on 127.0.0.1:
// mutated and garbage frames before and after the handshake, binary and oversize frames, floods, many
// sockets. Each frame gets a typed error frame back and the connection stays, except where the protocol
// closes it (refused credentials, overload, more frames before authentication than PRE_AUTH_MAX_FRAMES) — and then
// only after a fatal error frame. The server stays up.
import fc from 'fast-check';
import { expect } from 'vitest';
import WebSocket from 'ws';
import { AGENT_TO_SERVER, DEFAULT_MAX_FRAME_BYTES, type Frame } from '../../src/protocol/frames.js';
import type { RunningServer } from '../../src/server/server.js';
import { PRE_AUTH_MAX_FRAMES, PRE_AUTH_MAX_PAYLOAD } from '../../src/server/gateway.js';
import { apiOf, connectAgent, enroll, newEnrollmentToken, serverIn, tempDir, type TestAgent } from '../server/helpers.js';
import { isErrorCode, mutateAt, mutatedText, mutation, prototypeIsClean, type Tally } from './hostile.js';
import { VALID_FRAMES } from './protocol-props.js';

// A valid `unenroll` ends the device's connection by design (the device leaves): not a hostile frame to survive.
const agentFrames = VALID_FRAMES.filter((f) => AGENT_TO_SERVER.includes(f.type) && f.type !== 'unenroll');
const FATAL = new Set(['AUTH_FAILED', 'ENROLLMENT_REFUSED', 'SERVER_UNREACHABLE', 'HANDSHAKE_FRAME_LIMIT']);

const hostileFrame = fc.oneof(
  { arbitrary: mutatedText(fc.constantFrom(...agentFrames.map((f) => JSON.stringify(f)))), weight: 3 },
  { arbitrary: fc.tuple(fc.constantFrom(...agentFrames), mutation).map(([f, m]) => JSON.stringify(mutateAt(f, m.steps, m.key, m.value))), weight: 3 },
  { arbitrary: fc.constant('__binary__'), weight: 1 },
);

let sentinelCount = 0;
/** Sends the frames, then a sentinel of unknown type; resolves when the sentinel's error frame or a close comes. */
async function exchange(agent: TestAgent, frames: readonly string[]): Promise<{ errors: Frame<'error'>[]; closed: boolean; code?: number }> {
  const id = `sentinel-${++sentinelCount}`;
  for (const text of frames) agent.ws.send(text === '__binary__' ? Buffer.from([0, 1, 2, 255]) : text);
  agent.ws.send(JSON.stringify({ v: 2, id, type: 'zz.sentinel', ts: 1, body: {} }));
  const answered = new Promise<boolean>((resolve) => {
    const look = () => (agent.frames.some((f) => f.type === 'error' && f.body.ref === id) ? resolve(true) : setTimeout(look, 5));
    look();
  });
  const closed = await Promise.race([answered.then(() => false), agent.closed.then(() => true), new Promise<boolean>((_, reject) => setTimeout(() => reject(new Error('no answer to the sentinel within 10 s')), 10_000))]);
  if (closed) await new Promise((r) => setTimeout(r, 20)); // let the last frames before the close arrive
  return { errors: agent.frames.filter((f): f is Frame<'error'> => f.type === 'error'), closed, ...(closed ? { code: (await agent.closed).code } : {}) };
}

function assertProtocolKept(result: { errors: Frame<'error'>[]; closed: boolean; code?: number }, agent: TestAgent, preAuthOversize = false): void {
  expect(agent.badFrames, 'every server frame parses').toEqual([]);
  for (const e of result.errors) expect(isErrorCode(e.body.code), e.body.code).toBe(true);
  // Before authentication a frame over the pre-auth limit is closed by ws from its header (1009), without a frame
  // (unless a refusal before it closed the connection first: then the usual rule below).
  if (preAuthOversize && result.code === 1009) return;
  if (preAuthOversize) expect(result.closed, 'a pre-auth frame over the limit ends the connection').toBe(true);
  // Closed only after a fatal error frame that says why.
  if (result.closed) expect(result.errors.some((e) => e.body.fatal && FATAL.has(e.body.code))).toBe(true);
}

async function serverAlive(server: RunningServer): Promise<void> {
  const res = await apiOf(server)('GET', '/devices');
  expect(res.status).toBe(200);
}

export async function runGatewayProperties(runs: number, tally: Tally, opts: { floodFrames: number; sockets: number }): Promise<{ frames: number }> {
  const server = await serverIn(await tempDir(), 30);
  let frames = 0;
  try {
    // Before the handshake: anyone on the network can do this. agent.hello, the hostile frames and the sentinel stay
    // within PRE_AUTH_MAX_FRAMES, so each is answered (the flood below goes past it).
    const preFrames = frames;
    await fc.assert(
      fc.asyncProperty(fc.array(hostileFrame, { minLength: 1, maxLength: PRE_AUTH_MAX_FRAMES - 2 }), async (texts) => {
        const agent = await connectAgent(server.agentUrl);
        try {
          await agent.hello();
          const oversize = texts.some((t) => t !== '__binary__' && Buffer.byteLength(t) > PRE_AUTH_MAX_PAYLOAD);
          assertProtocolKept(await exchange(agent, texts), agent, oversize);
          frames += texts.length + 1;
          return prototypeIsClean();
        } finally {
          await agent.close();
        }
      }),
      { numRuns: runs },
    );
    tally.add(`gateway: hostile frames before handshake (${runs} connections)`, frames - preFrames);
    await serverAlive(server);

    // After the handshake: an enrolled device sending garbage keeps its connection and its reports flow.
    const device = await enroll(server, await newEnrollmentToken(server));
    await device.next('desired');
    const postFrames = frames;
    await fc.assert(
      fc.asyncProperty(fc.array(hostileFrame, { minLength: 1, maxLength: 8 }), async (texts) => {
        device.frames.length = 0;
        const result = await exchange(device, texts);
        expect(result.closed).toBe(false);
        assertProtocolKept(result, device);
        frames += texts.length + 1;
        return prototypeIsClean();
      }),
      { numRuns: runs },
    );
    tally.add('gateway: hostile frames after handshake', frames - postFrames);
    // Reports still flow: a new one is acknowledged (hostile reports may have moved lastSeq up to 2^53).
    device.frames.length = 0;
    const seq = Number.MAX_SAFE_INTEGER;
    device.send('report', { seq, kind: 'status', at: 1, data: {} });
    let upTo = -1;
    for (let i = 0; i < 50 && upTo !== seq; i++) upTo = (await device.next('report.ack', 10_000)).body.upTo; // late acks of the hostile batch first
    expect(upTo).toBe(seq);
    await device.close();

    // Before authentication, a frame over the pre-auth limit is closed from its header (1009).
    const early = await connectAgent(server.agentUrl);
    await early.hello();
    early.ws.send('x'.repeat(PRE_AUTH_MAX_PAYLOAD + 1));
    expect((await early.closed).code).toBe(1009);
    // After it, a frame over the protocol limit gets FRAME_TOO_LARGE and the connection stays; one past ws's limit is closed (1009).
    const big = await enroll(server, await newEnrollmentToken(server));
    await big.next('desired');
    const over = JSON.stringify({ v: 2, id: 'big-1', type: 'report', ts: 1, body: { pad: 'x'.repeat(DEFAULT_MAX_FRAME_BYTES) } });
    const r = await exchange(big, [over]);
    expect(r.closed).toBe(false);
    expect(r.errors.map((e) => e.body.code)).toContain('FRAME_TOO_LARGE');
    big.ws.send('x'.repeat(DEFAULT_MAX_FRAME_BYTES * 2 + 10));
    expect((await big.closed).code).toBe(1009);
    tally.add('gateway: oversize frames', 2);
    frames += 2;

    // A flood from one socket before it authenticated: answered up to the frame budget, then a fatal
    // HANDSHAKE_FRAME_LIMIT and closed — never a crash.
    const flooder = await connectAgent(server.agentUrl);
    await flooder.hello();
    const flood = await exchange(flooder, Array.from({ length: opts.floodFrames }, (_, i) => `{"v":2,"id":"f-${i}","type":"report","ts":1,"body":{}}`));
    assertProtocolKept(flood, flooder);
    expect(flood.closed, 'a pre-auth flood goes past the frame budget').toBe(true);
    expect(flood.errors.at(-1)?.body.code).toBe('HANDSHAKE_FRAME_LIMIT');
    await flooder.close();
    tally.add('gateway: flood frames (one socket)', opts.floodFrames);
    frames += opts.floodFrames;

    // Many sockets at once that never finish a handshake; the server still serves.
    const idle = await Promise.all(Array.from({ length: opts.sockets }, () => connectAgent(server.agentUrl)));
    await serverAlive(server);
    await Promise.all(idle.map((a) => a.close()));
    tally.add('gateway: concurrent unauthenticated sockets (connections)', opts.sockets);
    await serverAlive(server);
    expect(WebSocket.OPEN).toBe(1);
    return { frames };
  } finally {
    await server.stop();
  }
}
