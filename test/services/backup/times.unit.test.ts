// File times handed to Node as seconds in a double (src/services/backup/times.ts): a restored time must come back
// in the recorded microsecond (so also the recorded millisecond), within a quarter of one.
import { describe, expect, it } from 'vitest';
import { settledNs, timeArg } from '../../../src/services/backup/times.js';

describe('timeArg', () => {
  it('sets a time in the recorded microsecond and millisecond, close to it', () => {
    const cases = [
      1796236081785000000n, // restored as ...784999847 by Number(ns) / 1e9 (seen in the backup bench)
      1580702706789000000n,
      1609459200000000000n,
      1796236081784809672n,
      1796241419172999900n, // 100 ns below a millisecond: the smallest double above came back in the next one
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
      const floor = (a: bigint, b: bigint) => (a >= 0n ? a / b : -((-a + b - 1n) / b));
      expect(floor(got, 1000n), `${ns} came back as ${got}`).toBe(floor(ns, 1000n));
      expect(floor(got, 1_000_000n), `${ns} came back as ${got}`).toBe(floor(ns, 1_000_000n));
      expect(got > ns ? got - ns : ns - got, `${ns} came back as ${got}`).toBeLessThan(250n);
    }
  });

  it('the plain conversion it replaces gave the earlier millisecond', () => {
    expect(settledNs(Number(1796236081785000000n) / 1e9) / 1_000_000n).toBe(1796236081784n);
  });
});
