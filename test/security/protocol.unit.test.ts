import { afterAll, describe, expect, it } from 'vitest';
import { parseFrame } from '../../src/protocol/frames.js';
import { createTally, heapMb, prototypeIsClean } from './hostile.js';
import { runProtocolProperties } from './protocol-props.js';

const tally = createTally('security (fast): protocol');
afterAll(() => tally.print());

describe('protocol under hostile input (fast subset)', () => {
  it('rejects every hostile frame with a typed error, accepts only frames that round-trip, and leaks no memory', () => {
    const before = heapMb();
    runProtocolProperties(300, tally);
    expect(prototypeIsClean()).toBe(true);
    expect(heapMb() - before).toBeLessThan(150);
  }, 60_000);

  it('refuses values nested past the depth bound instead of overflowing the stack later', () => {
    const deep = '['.repeat(100_000) + ']'.repeat(100_000);
    const text = `{"v":2,"id":"d-1","type":"report","ts":1,"body":{"seq":1,"kind":"status","at":1,"data":{"x":${deep}}}}`;
    expect(parseFrame(text)).toMatchObject({ ok: false, code: 'FRAME_INVALID', ref: 'd-1' });
  });

  it('keeps __proto__ keys from a frame off every prototype', () => {
    const text = '{"v":2,"id":"p-1","type":"report","ts":1,"body":{"seq":1,"kind":"inventory","at":1,"data":{"__proto__":{"polluted":true},"constructor":{"prototype":{"polluted":true}}}}}';
    const r = parseFrame(text);
    expect(r.ok && Object.getPrototypeOf(r.frame.body) === Object.prototype).toBe(true);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });
});
