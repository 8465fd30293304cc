import { afterAll, describe, expect, it } from 'vitest';
import { createTally, heapMb } from './hostile.js';
import { runAgentConnectionProperties } from './agent-connection-props.js';

const tally = createTally('security (fast): agent connection vs rogue server');
afterAll(() => tally.print());

describe('agent connection against a rogue server (fast subset)', () => {
  it('runs only validly signed commands once, answers the rest with typed errors, stays connected', async () => {
    const before = heapMb();
    const { frames } = await runAgentConnectionProperties(40, tally);
    console.log(`rogue-server frames sent: ${frames}`);
    expect(heapMb() - before).toBeLessThan(200);
  });
});
