// The pure decisions of TLS pin rotation: which pins are enforced (precedence), which announcements are valid,
// what an announcement changes, and that a bad pin set refuses the whole key.rotate before any key changes.
import { describe, expect, it } from 'vitest';
import { checkAnnouncement, checkPinSet, planPinAnnouncement, tlsPinsInUse } from '../../src/agent/tls-pins.js';
import { createCommandDispatcher } from '../../src/agent/commands.js';
import { makeFrame, type Frame, type CommandType } from '../../src/protocol/frames.js';
import { TlsPinSchema } from '../../src/protocol/tls-pin.js';
import type { Converger } from '../../src/agent/contracts.js';

const pin = (n: number) => Buffer.alloc(32, n).toString('base64');
const [A, B, C] = [pin(1), pin(2), pin(3)];

describe('pins in use (precedence)', () => {
  it('no config pin: no pinning, even with pins learned earlier', () => {
    expect(tlsPinsInUse(null, undefined)).toEqual({ source: 'none', pins: [] });
    expect(tlsPinsInUse({ tlsPins: [A, B], tlsPinsBase: A }, undefined)).toEqual({ source: 'none', pins: [] });
  });

  it('config pin and nothing learned (or an old record without the fields): the config pin', () => {
    expect(tlsPinsInUse(null, A)).toEqual({ source: 'config', pins: [A] });
    expect(tlsPinsInUse({}, A)).toEqual({ source: 'config', pins: [A] });
    expect(tlsPinsInUse({ tlsPins: [], tlsPinsBase: null }, A)).toEqual({ source: 'config', pins: [A] });
  });

  it('pins learned over the same config pin replace it, even when they no longer include it', () => {
    expect(tlsPinsInUse({ tlsPins: [A, B], tlsPinsBase: A }, A)).toEqual({ source: 'learned', pins: [A, B] });
    expect(tlsPinsInUse({ tlsPins: [B], tlsPinsBase: A }, A)).toEqual({ source: 'learned', pins: [B] });
  });

  it('a config pin changed since the pins were learned takes over (local recovery)', () => {
    expect(tlsPinsInUse({ tlsPins: [B], tlsPinsBase: A }, C)).toEqual({ source: 'config', pins: [C] });
  });
});

describe('announced pin sets', () => {
  it('accepts 1 to 8 distinct base64 SHA-256 values', () => {
    expect(checkPinSet([A])).toBeNull();
    expect(checkPinSet([1, 2, 3, 4, 5, 6, 7, 8].map(pin))).toBeNull();
  });

  it.each([
    ['empty', [], /at least one/],
    ['nine', [1, 2, 3, 4, 5, 6, 7, 8, 9].map(pin), /at most 8/],
    ['duplicates', [A, A], /differ/],
    ['too short', [A.slice(1)], /pins\.0/],
    ['hex, not base64', ['ab'.repeat(32)], /pins\.0/],
    ['not 32 bytes (non-zero padding bits)', [`${A.slice(0, 42)}B=`], /pins\.0/],
  ])('refuses %s', (_name, pins, message) => {
    expect(checkPinSet(pins as string[])).toMatchObject({ code: 'TLS_PINS_INVALID', message: expect.stringMatching(message) });
  });

  it('the pin schema accepts exactly what openssl prints for a SHA-256', () => {
    for (let n = 0; n < 256; n += 17) expect(TlsPinSchema.safeParse(Buffer.alloc(32, n).toString('base64')).success).toBe(true);
    expect(TlsPinSchema.safeParse(Buffer.alloc(31, 1).toString('base64')).success).toBe(false);
  });
});

describe('planPinAnnouncement', () => {
  it('a device that does not pin records nothing and says so', () => {
    expect(planPinAnnouncement(null, undefined, [A, B])).toMatchObject({ action: 'ignore', reason: { code: 'TLS_PINS_NOT_USED' } });
  });

  it('a pinning device records the set over its config pin; the same set again is no change', () => {
    // (The last argument: the pin of the certificate of the connection the announcement came in on.)
    expect(planPinAnnouncement({ tlsPins: [], tlsPinsBase: null }, A, [A, B], A)).toEqual({ action: 'record', pins: [A, B], base: A, changed: true });
    expect(planPinAnnouncement({ tlsPins: [A, B], tlsPinsBase: A }, A, [A, B], B)).toMatchObject({ changed: false });
    expect(planPinAnnouncement({ tlsPins: [A, B], tlsPinsBase: A }, A, [B], B)).toEqual({ action: 'record', pins: [B], base: A, changed: true });
    // The same set learned over another config pin is recorded again, over the new one.
    expect(planPinAnnouncement({ tlsPins: [B], tlsPinsBase: A }, C, [B], B)).toEqual({ action: 'record', pins: [B], base: C, changed: true });
  });

  it('an invalid set is rejected whether or not the device pins', () => {
    expect(planPinAnnouncement(null, undefined, [])).toMatchObject({ action: 'reject' });
    expect(planPinAnnouncement(null, A, ['nope'])).toMatchObject({ action: 'reject' });
  });
});

describe('checkAnnouncement (the set must contain the pin of the certificate it came in over)', () => {
  it('refuses a set without the connection\'s pin, or one sent without TLS, when the device pins; ignores it otherwise', () => {
    expect(checkAnnouncement([A, B], A, A)).toBeNull();
    expect(checkAnnouncement([B], A, A)).toMatchObject({ code: 'TLS_PINS_INVALID', message: expect.stringContaining(A) });
    expect(checkAnnouncement([A, B], A, null)).toMatchObject({ code: 'TLS_PINS_INVALID', message: expect.stringContaining('without TLS') });
    expect(checkAnnouncement([B], undefined, A)).toBeNull();
    expect(planPinAnnouncement({ tlsPins: [], tlsPinsBase: null }, A, [B], A)).toMatchObject({ action: 'reject' });
  });
});

describe('key.rotate dispatch', () => {
  const newKey = Buffer.alloc(32, 9).toString('base64');
  const run = async (pins: string[] | undefined) => {
    const calls: string[] = [];
    const dispatch = createCommandDispatcher({
      converger: {} as Converger,
      floor: { admit: async () => ({ ok: false, code: 'COMMAND_STALE', message: 'not a state command' }) },
      sendStatus: async () => undefined,
      rotateKeys: async (frame) => { calls.push(`keys:${frame.body.newKey === newKey}`); return { status: 'done' }; },
      learnTlsPins: async (p) => { calls.push(`pins:${p.length}`); return { status: 'done' }; },
      checkTlsPins: (p) => checkAnnouncement(p, A, A),
    });
    const frame = makeFrame('key.rotate', { deviceId: 'dev-1', newKey, ...(pins ? { pins } : {}) }) as Frame & { type: CommandType };
    return { outcome: await dispatch(frame), calls };
  };

  it('rotates keys, then records pins when the command carries them', async () => {
    expect(await run(undefined)).toEqual({ outcome: { status: 'done' }, calls: ['keys:true'] });
    expect(await run([A, B])).toEqual({ outcome: { status: 'done' }, calls: ['keys:true', 'pins:2'] });
  });

  it('refuses the whole command, keys untouched, when a pin is invalid', async () => {
    const { outcome, calls } = await run([A, 'not-a-pin']);
    expect(outcome).toMatchObject({ status: 'rejected', reason: { code: 'TLS_PINS_INVALID' } });
    expect(calls).toEqual([]);
  });
});
