import { afterAll, describe, expect, it } from 'vitest';
import { createTally, heapMb, prototypeIsClean } from './hostile.js';
import { runGatewayProperties } from './gateway-props.js';

const tally = createTally('security (fast): gateway (connections/frames)');
afterAll(() => tally.print());

describe('reference server gateway under hostile agents (fast subset)', () => {
  it('answers every hostile frame with a typed error, keeps the connection where the protocol says, stays up', async () => {
    const before = heapMb();
    const { frames } = await runGatewayProperties(60, tally, { floodFrames: 2_000, sockets: 100 });
    console.log(`gateway frames sent: ${frames}`);
    expect(prototypeIsClean()).toBe(true);
    expect(heapMb() - before).toBeLessThan(300);
  });
});
