// The server's time as this device estimates it: the signed serverTime of the last handshake plus the monotonic
// time elapsed since. A step of the device's wall clock (NTP correcting it, a user setting the date, a VM
// resumed) changes nothing while it runs: command expiry and the replay guard are judged by this estimate, and
// the skew shown in status is the estimate minus the wall clock now, so status follows a step at once.
import type { Clock } from '../system/clock.js';

export interface ServerTimeAnchor {
  /** server.hello.serverTime (signed, answering this session's nonce). */
  serverTime: number;
  /** The monotonic reading the server's time is taken to belong to: half-way through the hello round trip. */
  monotonicAt: number;
}

/** The anchor of a verified server.hello, from the monotonic readings when agent.hello left and server.hello arrived. Pure. */
export function anchorOf(serverTime: number, sentAt: number, receivedAt: number): ServerTimeAnchor {
  return { serverTime, monotonicAt: (sentAt + receivedAt) / 2 };
}

/** Estimated server time at the monotonic reading `monotonic`. Pure. */
export function serverTimeAt(anchor: ServerTimeAnchor, monotonic: number): number {
  return Math.round(anchor.serverTime + (monotonic - anchor.monotonicAt));
}

export interface ServerClock {
  /** Estimated server time (ms since the epoch), or null before this process's first handshake. */
  now(): number | null;
  /** Estimated server time minus the device's wall clock (ms, positive: the device is behind), or null before one. */
  skewMs(): number | null;
  /** Re-anchors on a verified server.hello. */
  anchor(anchor: ServerTimeAnchor): void;
}

export function createServerClock(clock: Clock): ServerClock {
  let anchor: ServerTimeAnchor | null = null;
  const now = () => (anchor ? serverTimeAt(anchor, clock.monotonic()) : null);
  return {
    now,
    skewMs() {
      const server = now();
      return server === null ? null : server - clock.now();
    },
    anchor(next) {
      anchor = next;
    },
  };
}
