// Node sets file times from seconds held in a double (utimes, futimes, lutimes), ~240 ns apart in this century, and
// the conversion to the kernel's seconds and nanoseconds truncates: the double nearest to 18:28:01.785 lies below
// it and came back as 18:28:01.784999847 (a millisecond earlier to anything that compares milliseconds), and a
// time 100 ns below a millisecond can come back above it. Of the few doubles around a time, one always lands in
// the same microsecond: that one, the closest of them, is used.

const f64 = new Float64Array(1);
const i64 = new BigInt64Array(f64.buffer);

/** The next double towards +Infinity. */
function nextUp(x: number): number {
  if (x === 0) return Number.MIN_VALUE;
  f64[0] = x;
  i64[0] = i64[0]! + (x > 0 ? 1n : -1n);
  return f64[0]!;
}

const floorDiv = (a: bigint, b: bigint): bigint => (a >= 0n ? a / b : -((-a + b - 1n) / b));
const abs = (a: bigint): bigint => (a < 0n ? -a : a);

/** The nanoseconds the kernel is given for `seconds` (libuv: whole seconds, then the fraction × 1e9, truncated). */
export function settledNs(seconds: number): bigint {
  const whole = Math.trunc(seconds);
  return BigInt(whole) * 1_000_000_000n + BigInt(Math.trunc((seconds - whole) * 1e9));
}

/** The seconds to hand to Node for the time `ns` (nanoseconds since 1970): it sets a time in the same microsecond. */
export function timeArg(ns: string | bigint): number {
  const n = BigInt(ns);
  const micro = floorDiv(n, 1000n);
  const nearest = Number(n / 1_000_000_000n) + Number(n % 1_000_000_000n) / 1e9;
  let seconds = nearest;
  for (let i = 0; i < 4; i++) seconds = -nextUp(-seconds);
  let best = nearest;
  let bestError: bigint | null = null;
  for (let i = 0; i < 9; i++, seconds = nextUp(seconds)) {
    const got = settledNs(seconds);
    if (floorDiv(got, 1000n) !== micro) continue;
    const error = abs(got - n);
    if (bestError === null || error < bestError) [best, bestError] = [seconds, error];
  }
  return best;
}
