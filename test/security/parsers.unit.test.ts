import { afterAll, describe, expect, it } from 'vitest';
import { createTally, heapMb, prototypeIsClean } from './hostile.js';
import { runParserProperties, slowest } from './parsers-props.js';

const tally = createTally('security (fast): parsers and policy schemas');
afterAll(() => {
  tally.print();
  console.log(`slowest call per parser (ms): ${JSON.stringify(Object.fromEntries([...slowest].map(([k, v]) => [k, Math.round(v)])))}`);
});

describe('parsers and policy schemas under hostile input (fast subset)', () => {
  it('answer every input in bounded time without throwing; restores stay inside their folder', () => {
    const before = heapMb();
    runParserProperties(60, tally);
    expect(prototypeIsClean()).toBe(true);
    expect(heapMb() - before).toBeLessThan(200);
  }, 60_000);
});

describe('known gap (reported): backup exclude globs backtrack exponentially', () => {
  // Flips to a failure once globToRegExp matches in linear time: then make this a plain `it`.
  it.fails('matches a 20-character glob against a 40-character name in under 100 ms', async () => {
    const { createExcluder } = await import('../../src/services/backup/manifest.js');
    const { KNOWN_SLOW_GLOB } = await import('./parsers-props.js');
    const start = performance.now();
    createExcluder([KNOWN_SLOW_GLOB.glob.slice(0, 16) + 'b'])(KNOWN_SLOW_GLOB.name.slice(0, 34));
    expect(performance.now() - start).toBeLessThan(100);
  });
});
