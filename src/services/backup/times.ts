// Node sets file times from seconds held in a double (utimes, futimes, lutimes), ~240 ns apart in this century, and
// the conversion to the kernel's seconds and nanoseconds truncates: the double nearest to 18:28:01.785 lies below
// it and came back as 18:28:01.784999847 (a millisecond earlier to anything that compares milliseconds).

const f64 = new Float64Array(1);
const i64 = new BigInt64Array(f64.buffer);

/** The next double towards +Infinity. */
function nextUp(x: number): number {
  if (x === 0) return Number.MIN_VALUE;
  f64[0] = x;
  i64[0] = i64[0]! + (x > 0 ? 1n : -1n);
  return f64[0]!;
}

/** The nanoseconds the kernel is given for `seconds` (libuv: whole seconds, then the fraction × 1e9, truncated). */
export function settledNs(seconds: number): bigint {
  const whole = Math.trunc(seconds);
  return BigInt(whole) * 1_000_000_000n + BigInt(Math.trunc((seconds - whole) * 1e9));
}

/** The seconds to hand to Node for the time `ns` (nanoseconds since 1970): the smallest double that sets it or later. */
export function timeArg(ns: string | bigint): number {
  const n = BigInt(ns);
  let seconds = Number(n / 1_000_000_000n) + Number(n % 1_000_000_000n) / 1e9;
  for (let i = 0; i < 16 && settledNs(seconds) < n; i++) seconds = nextUp(seconds);
  return seconds;
}
