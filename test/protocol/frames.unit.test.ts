import { describe, expect, it } from 'vitest';
import { parseFrame, makeFrame, encodeFrame, AGENT_TO_SERVER } from '../../src/protocol/frames.js';
import { generateKeyPair, signFrame, checkCommand, canonicalJson } from '../../src/protocol/sign.js';

const policy = { id: 'pol-1', name: 'Default', service: 'monitoring', version: 1, settings: {} } as const;

describe('parseFrame', () => {
  it('accepts a valid frame and returns its typed body', () => {
    const text = encodeFrame(makeFrame('report.ack', { upTo: 4 }));
    const r = parseFrame(text);
    expect(r.ok && r.frame.type === 'report.ack' && r.frame.body.upTo).toBe(4);
  });

  it('rejects non-JSON, oversize, unknown types and bad bodies with typed codes', () => {
    expect(parseFrame('{nope')).toMatchObject({ ok: false, code: 'FRAME_INVALID' });
    expect(parseFrame('x'.repeat(2048), { maxBytes: 1024 })).toMatchObject({ ok: false, code: 'FRAME_TOO_LARGE' });
    expect(parseFrame(JSON.stringify({ v: 2, id: 'a1', type: 'rm -rf', ts: 1, body: {} }))).toMatchObject({ ok: false, code: 'FRAME_UNKNOWN_TYPE', ref: 'a1' });
    expect(parseFrame(JSON.stringify({ v: 2, id: 'a2', type: 'report.ack', ts: 1, body: { upTo: -1 } }))).toMatchObject({ ok: false, code: 'FRAME_INVALID', ref: 'a2' });
  });

  it('refuses frames of the wrong direction', () => {
    const text = encodeFrame(makeFrame('report.ack', { upTo: 1 }));
    expect(parseFrame(text, { accept: AGENT_TO_SERVER })).toMatchObject({ ok: false, code: 'FRAME_UNKNOWN_TYPE' });
  });
});

describe('checkCommand', () => {
  const server = generateKeyPair();
  const other = generateKeyPair();
  const now = 1_700_000_000_000;
  const base = { trustedKeys: [server.publicKey], deviceId: 'dev-1', now, windowMs: 300_000, alreadySeen: () => false };
  const command = (deviceId = 'dev-1', ts = now) => makeFrame('service.install', { deviceId, service: 'monitoring', policy }, ts);

  it('accepts a command signed by the pinned key for this device', () => {
    expect(checkCommand(signFrame(command(), server.privateKeyPem), base)).toEqual({ ok: true });
  });
  it('rejects unsigned, forged, misaddressed, expired and replayed commands, each with its reason', () => {
    expect(checkCommand(command(), base)).toMatchObject({ ok: false, code: 'COMMAND_UNSIGNED' });
    expect(checkCommand(signFrame(command(), other.privateKeyPem), base)).toMatchObject({ ok: false, code: 'COMMAND_FORGED' });
    const tampered = signFrame(command(), server.privateKeyPem);
    (tampered.body as { service: string }).service = 'backup';
    expect(checkCommand(tampered, base)).toMatchObject({ ok: false, code: 'COMMAND_FORGED' });
    expect(checkCommand(signFrame(command('dev-2'), server.privateKeyPem), base)).toMatchObject({ ok: false, code: 'COMMAND_WRONG_DEVICE' });
    expect(checkCommand(signFrame(command('dev-1', now - 600_000), server.privateKeyPem), base)).toMatchObject({ ok: false, code: 'COMMAND_EXPIRED' });
    expect(checkCommand(signFrame(command(), server.privateKeyPem), { ...base, alreadySeen: () => true })).toMatchObject({ ok: false, code: 'COMMAND_REPLAYED' });
  });
  it('signs canonical bytes so key order does not matter', () => {
    expect(canonicalJson({ b: 1, a: [{ d: 2, c: 3 }] })).toBe('{"a":[{"c":3,"d":2}],"b":1}');
  });
});
