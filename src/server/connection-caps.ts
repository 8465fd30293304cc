// How many agent WebSocket connections one node holds, in total and per client address, counted from the HTTP
// upgrade until the socket closes (authenticated or not). Beyond a cap the upgrade is answered 503 (the node is
// full) or 429 (this address holds too many) with Retry-After, before any WebSocket state exists for it.

export interface ConnectionCaps {
  /** Connections this node holds at most; 0 = no cap. */
  total: number;
  /** Connections one client address holds at most; 0 = no cap. */
  perAddress: number;
}

export const DEFAULT_CONNECTION_CAPS: ConnectionCaps = { total: 50_000, perAddress: 1_000 };

/** Seconds a refused agent is asked to wait: a range, so a refused crowd does not come back in the same second. */
export const RETRY_AFTER_SEC = { full: { min: 5, spread: 25 }, perAddress: { min: 30, spread: 60 } } as const;

export type Admission =
  | { ok: true }
  | { ok: false; status: 503 | 429; reason: string; retryAfterSec: number };

/** Pure: may one more connection from an address holding `fromAddress` be taken when the node holds `total`? */
export function decideAdmission(caps: ConnectionCaps, total: number, fromAddress: number, random: number): Admission {
  if (caps.total > 0 && total >= caps.total) {
    return { ok: false, status: 503, reason: `this server node holds its maximum of ${caps.total} agent connections`, retryAfterSec: RETRY_AFTER_SEC.full.min + Math.floor(random * RETRY_AFTER_SEC.full.spread) };
  }
  if (caps.perAddress > 0 && fromAddress >= caps.perAddress) {
    return { ok: false, status: 429, reason: `this address holds its maximum of ${caps.perAddress} agent connections`, retryAfterSec: RETRY_AFTER_SEC.perAddress.min + Math.floor(random * RETRY_AFTER_SEC.perAddress.spread) };
  }
  return { ok: true };
}

/** A per-address cap below this still lets a peer hold this many other sockets (a browser, an API client's pool). */
export const MIN_OTHER_SOCKETS = 64;

/**
 * Pure: may one more TCP socket from a peer be accepted? Sockets that are not (yet) agent connections (an upgrade
 * request still arriving, a TLS handshake, API keep-alive) are bounded per peer by the same cap (at least
 * MIN_OTHER_SOCKETS), so one address cannot hold file descriptors by never finishing its upgrade request. 0 = no cap.
 */
export function admitSocket(perAddress: number, sockets: number, agentConnections: number): boolean {
  return perAddress <= 0 || sockets - agentConnections < Math.max(perAddress, MIN_OTHER_SOCKETS);
}

/** The counts behind decideAdmission: take() on an admitted upgrade, the returned release() once its socket closed. */
export function createConnectionCounter(caps: ConnectionCaps, random: () => number = Math.random) {
  let total = 0;
  const byAddress = new Map<string, number>();
  return {
    take(address: string): Admission & { release?: () => void } {
      const verdict = decideAdmission(caps, total, byAddress.get(address) ?? 0, random());
      if (!verdict.ok) return verdict;
      total += 1;
      byAddress.set(address, (byAddress.get(address) ?? 0) + 1);
      let released = false;
      const release = () => {
        if (released) return;
        released = true;
        total -= 1;
        const left = (byAddress.get(address) ?? 1) - 1;
        if (left > 0) byAddress.set(address, left);
        else byAddress.delete(address);
      };
      return { ok: true, release };
    },
    counts: () => ({ total, addresses: byAddress.size }),
    heldBy: (address: string) => byAddress.get(address) ?? 0,
  };
}
