// Server time from the handshake's serverTime and the monotonic clock (src/agent/server-time.ts): a step of the
// wall clock moves the skew, never the server time.
import { describe, expect, it } from 'vitest';
import { anchorOf, createServerClock, serverTimeAt } from '../../src/agent/server-time.js';
import { fixedClock } from '../../src/system/clock.js';

describe('server time', () => {
  it('is the serverTime at the middle of the hello round trip plus monotonic time since', () => {
    const anchor = anchorOf(10_000, 100, 140); // sent at 100, answered at 140 (monotonic): serverTime belongs to 120
    expect(serverTimeAt(anchor, 120)).toBe(10_000);
    expect(serverTimeAt(anchor, 1_120)).toBe(11_000);
  });

  it('is unknown before a handshake; after one, wall-clock steps move only the skew', () => {
    const clock = fixedClock(1_000_000);
    const server = createServerClock(clock);
    expect([server.now(), server.skewMs()]).toEqual([null, null]);
    server.anchor(anchorOf(1_000_000 + 3_600_000, clock.monotonic(), clock.monotonic())); // the device is an hour behind
    expect(server.skewMs()).toBe(3_600_000);
    clock.advance(5_000);
    expect(server.now()).toBe(1_000_000 + 3_600_000 + 5_000);
    clock.step(3_600_000); // NTP corrects the device clock
    expect(server.now()).toBe(1_000_000 + 3_600_000 + 5_000);
    expect(server.skewMs()).toBe(0);
    clock.step(-7_200_000);
    expect(server.skewMs()).toBe(7_200_000);
  });
});
