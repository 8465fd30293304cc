// File times handed to Node as seconds in a double (src/services/backup/times.ts): a restored time must never come
// back earlier than the recorded one, nor more than a microsecond later.
import { describe, expect, it } from 'vitest';
import { settledNs, timeArg } from '../../../src/services/backup/times.js';

describe('timeArg', () => {
  it('sets the recorded time or at most a microsecond later, never earlier: the millisecond stays the same', () => {
    const cases = [
      1796236081785000000n, // restored as ...784999847 by Number(ns) / 1e9 (seen in the backup bench)
      1580702706789000000n,
      1609459200000000000n,
      1796236081784809672n,
      0n,
      999_999_999n,
      -1_500_000_000n, // before 1970
      4102444800123456789n, // 2100
    ];
    let seed = 7;
    for (let i = 0; i < 2000; i++) {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      cases.push(1_600_000_000_000_000_000n + BigInt(seed) * 1_000_000n + BigInt(i % 3 === 0 ? 0 : seed % 1_000_000));
    }
    for (const ns of cases) {
      const got = settledNs(timeArg(ns));
      expect(got >= ns, `${ns} came back as ${got}`).toBe(true);
      expect(got - ns < 1000n, `${ns} came back as ${got}`).toBe(true);
      if (ns % 1_000_000n < 999_000n) expect(got / 1_000_000n).toBe(ns / 1_000_000n);
    }
  });

  it('the plain conversion it replaces gave the earlier millisecond', () => {
    expect(settledNs(Number(1796236081785000000n) / 1e9) / 1_000_000n).toBe(1796236081784n);
  });
});
