// Hostile-input properties of the wire contract (parseFrame, encodeFrame, checkCommand), sized by the caller:
// a fast subset in test/security, hundreds of thousands of inputs in test/faults.
import fc from 'fast-check';
import { expect } from 'vitest';
import { AGENT_TO_SERVER, BODY_SCHEMAS, COMMAND_TYPES, SERVER_TO_AGENT, encodeFrame, makeFrame, parseFrame, type Frame, type FrameType, type ParseResult } from '../../src/protocol/frames.js';
import { canonicalJson, checkCommand, generateKeyPair, signFrame } from '../../src/protocol/sign.js';
import { hostileString, hostileValue, isErrorCode, mutateAt, mutatedText, mutation, prototypeIsClean, type Tally } from './hostile.js';

const serverKeys = generateKeyPair();
const pub = serverKeys.publicKey;
const policy = { id: 'pol-1', name: 'Default', service: 'monitoring', version: 1, settings: { cpu: { warn: 80 }, paths: ['/'] } };
const facts = { hostname: 'h', platform: 'linux', arch: 'x64', osRelease: '6', agentVersion: '0.1.0', alias: null, teamviewer: null };
const dev = { deviceId: 'dev-1' };

/** One valid body per frame type; the test fails when a type is added without one here. */
export const VALID_BODIES: { [T in FrameType]: unknown } = {
  'agent.hello': { protocol: 2, nonce: pub, deviceKey: pub, agentVersion: '0.1.0' },
  'server.hello': { protocol: 2, agentNonce: pub, deviceKey: pub, nonce: pub, serverTime: 1, serverKey: pub, channel: { kind: 'tls-exporter', value: pub }, endorsements: [{ key: pub, signedBy: pub, sig: 'A'.repeat(86) + '==' }] },
  welcome: { agentNonce: pub, deviceId: 'dev-1', enrolled: true, heartbeatSec: 30, lastSeq: 0 },
  'report.ack': { upTo: 3 },
  desired: { ...dev, state: { revision: 1, services: { monitoring: { policy } } } },
  'service.install': { ...dev, service: 'monitoring', policy },
  'service.uninstall': { ...dev, service: 'monitoring' },
  'policy.assign': { ...dev, service: 'monitoring', policy },
  'status.request': { ...dev },
  'inventory.request': { ...dev, full: true },
  'backup.run': { ...dev },
  'backup.restore': { ...dev, actor: 'alice', snapshot: 's1', target: '/restore', paths: ['/home'] },
  'patches.install': { ...dev },
  'patches.scan': { ...dev },
  'alert.ack': { ...dev, actor: 'alice', key: 'cpu' },
  'key.rotate': { ...dev, newKey: pub, retireKey: pub },
  auth: { deviceId: 'dev-1', serverNonce: pub, channel: { kind: 'none' }, facts },
  enroll: { token: 'enrollment-token-1', publicKey: pub, serverNonce: pub, channel: { kind: 'none' }, facts },
  ack: { commandId: 'c-1', status: 'done' },
  report: { seq: 1, kind: 'status', at: 1, data: { any: 1 } },
  unenroll: { reason: 'rmagent unenroll' },
  error: { code: 'FRAME_INVALID', message: 'x' },
};
const TYPES = Object.keys(BODY_SCHEMAS) as FrameType[];
export const VALID_FRAMES = TYPES.map((t) => makeFrame(t, VALID_BODIES[t] as never, 1_700_000_000_000));
const validText = fc.constantFrom(...VALID_FRAMES.map((f) => JSON.stringify(f)));
const acceptList = fc.constantFrom<readonly FrameType[] | undefined>(undefined, AGENT_TO_SERVER, SERVER_TO_AGENT);

/** What must hold for any answer of parseFrame: a typed failure that fits an error frame, or a frame that round-trips. */
export function assertParseResult(r: ParseResult): void {
  if (!r.ok) {
    if (!isErrorCode(r.code)) throw new Error(`untyped failure code ${String(r.code)}`);
    // The peer answers with this very message in an error frame: it must encode.
    encodeFrame(makeFrame('error', { code: r.code, message: r.message.slice(0, 2048), ...(r.ref ? { ref: r.ref } : {}) }));
    if (r.message.length > 2048) throw new Error(`failure message of ${r.message.length} chars`);
    return;
  }
  const again = parseFrame(encodeFrame(r.frame));
  if (!again.ok) throw new Error(`accepted frame does not round-trip: ${again.message}`);
  expect(again.frame).toEqual(r.frame);
  const body = r.frame.body as object;
  if (Object.getPrototypeOf(body) !== Object.prototype) throw new Error('body prototype was replaced');
}

function check(text: string, accept?: readonly FrameType[]): boolean {
  assertParseResult(parseFrame(text, accept ? { accept } : {}));
  return prototypeIsClean();
}

export function runProtocolProperties(runs: number, tally: Tally, seed?: number): void {
  const params = (n: number) => ({ numRuns: n, ...(seed === undefined ? {} : { seed }) });
  expect(new Set(TYPES)).toEqual(new Set(Object.keys(VALID_BODIES)));
  for (const f of VALID_FRAMES) expect(parseFrame(encodeFrame(f)), f.type).toMatchObject({ ok: true });

  // Text mutated from valid frames, deep nesting, binary garbage.
  fc.assert(fc.property(mutatedText(validText), acceptList, (text, accept) => check(text, accept)), params(runs));
  tally.add('parseFrame: mutated/garbage text', runs);

  // Valid frames with one value replaced, deleted or added (hostile keys and values anywhere).
  fc.assert(
    fc.property(fc.constantFrom(...VALID_FRAMES), mutation, acceptList, (frame, m, accept) => check(JSON.stringify(mutateAt(frame, m.steps, m.key, m.value)), accept)),
    params(runs),
  );
  tally.add('parseFrame: mutated valid frames', runs);

  // Envelopes with any type (known, unknown, hostile) and any body.
  const anyType = fc.oneof(fc.constantFrom(...TYPES), hostileString, fc.constantFrom('__proto__', 'constructor', 'toString', 'hasOwnProperty'));
  fc.assert(
    fc.property(anyType, hostileValue, hostileValue, acceptList, (type, body, id, accept) => {
      const r = parseFrame(JSON.stringify({ v: 2, id: typeof id === 'string' && id ? id : 'x-1', type, ts: 1, body }), accept ? { accept } : {});
      assertParseResult(r);
      if (!Object.hasOwn(BODY_SCHEMAS, type) && r.ok) throw new Error(`unknown type ${type} accepted`);
      if (accept && r.ok && !accept.includes(r.frame.type)) throw new Error(`wrong direction ${type} accepted`);
      return prototypeIsClean();
    }),
    params(runs),
  );
  tally.add('parseFrame: hostile types and bodies', runs);

  // Size limit, counted in UTF-8 bytes, not characters.
  fc.assert(
    fc.property(fc.integer({ min: 1024, max: 64 * 1024 }), fc.constantFrom('a', 'é', '€', '😀'), (maxBytes, ch) => {
      const filler = ch.repeat(Math.ceil(maxBytes / Buffer.byteLength(ch)) + 1);
      const r = parseFrame(JSON.stringify({ v: 2, id: 'big-1', type: 'error', ts: 1, body: { code: 'X', message: filler } }), { maxBytes });
      return !r.ok && r.code === 'FRAME_TOO_LARGE';
    }),
    params(Math.max(20, runs / 20)),
  );
  tally.add('parseFrame: size limit', Math.max(20, runs / 20));

  // Signed commands: any change anywhere is rejected; checkCommand never throws on what parseFrame lets through.
  const signed = VALID_FRAMES.filter((f) => (COMMAND_TYPES as readonly string[]).includes(f.type)).map((f) => signFrame(f, serverKeys.privateKeyPem));
  const ctx = (seen: boolean) => ({ trustedKeys: [pub], deviceId: 'dev-1', now: 1_700_000_000_000, windowMs: 300_000, alreadySeen: () => seen });
  for (const f of signed) expect(checkCommand(f, ctx(false)), f.type).toEqual({ ok: true });
  fc.assert(
    fc.property(fc.constantFrom(...signed), mutation, fc.boolean(), (frame, m, seen) => {
      const r = parseFrame(JSON.stringify(mutateAt(frame, m.steps, m.key, m.value)), { accept: SERVER_TO_AGENT });
      if (!r.ok || !(COMMAND_TYPES as readonly string[]).includes(r.frame.type)) return true;
      const verdict = checkCommand(r.frame as Frame, ctx(seen));
      if (!verdict.ok) return isErrorCode(verdict.code);
      const same = canonicalJson({ ...r.frame, sig: undefined }) === canonicalJson({ ...frame, sig: undefined }) && r.frame.sig === frame.sig;
      return same && !seen;
    }),
    params(runs),
  );
  tally.add('checkCommand: mutated signed commands', runs);
}
