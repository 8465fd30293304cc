// The collection after a burst of work (src/system/idle-gc.ts), with real timers and a counting stand-in for `gc`.
import { describe, expect, it } from 'vitest';
import { createBufferCollector, createIdleCollector } from '../../src/system/idle-gc.js';

const wait = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('idle collector', () => {
  it('collects once, the delay after the last ask: asks within the delay move it', async () => {
    let collections = 0;
    const ask = createIdleCollector({ gc: () => collections++, delayMs: 60 });
    ask();
    await wait(30);
    ask();
    await wait(40);
    expect(collections).toBe(0);
    await wait(60);
    expect(collections).toBe(1);
    ask();
    await wait(120);
    expect(collections).toBe(2);
  });

  it('does nothing where the runtime exposes no gc (a plain Node build), and asks nothing of a missing one', async () => {
    expect(typeof (globalThis as { gc?: unknown }).gc).toBe('undefined');
    const ask = createIdleCollector({ delayMs: 1 });
    expect(() => ask()).not.toThrow();
    await wait(20);
  });
});

describe('buffer collector', () => {
  it('collects the young generation once per `everyBytes` of Buffers made, not before', () => {
    const calls: Array<{ type: string }> = [];
    const made = createBufferCollector(100, (options) => calls.push(options));
    made(60);
    expect(calls).toEqual([]);
    made(50);
    expect(calls).toEqual([{ type: 'minor' }]);
    made(99);
    expect(calls).toHaveLength(1);
    made(1);
    expect(calls).toHaveLength(2);
  });

  it('does nothing where the runtime exposes no gc', () => {
    expect(() => createBufferCollector(1)(10)).not.toThrow();
  });
});
