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

describe('backup exclude globs cannot stall the agent', () => {
  // This glob and name took ~15 s with the former regular-expression matcher (nested backtracking).
  it('matches a glob made to backtrack against long names without delay', async () => {
    const { createExcluder } = await import('../../src/services/backup/manifest.js');
    const { KNOWN_SLOW_GLOB } = await import('./parsers-props.js');
    const start = performance.now();
    const excluded = createExcluder([KNOWN_SLOW_GLOB.glob, `**/${'*a'.repeat(200)}*b`]);
    expect(excluded(KNOWN_SLOW_GLOB.name)).toBe(false);
    expect(excluded(`dir/${'a'.repeat(4000)}`)).toBe(false);
    expect(excluded(`dir/${'a'.repeat(300)}b`)).toBe(true);
    expect(performance.now() - start).toBeLessThan(2_000);
  });
});
