// How many agent WebSocket connections one node holds, in total and per client address (an IPv6 client per /64:
// addressGroupOf), counted from the HTTP upgrade until the socket closes (authenticated or not). Beyond a cap the
// upgrade is answered 503 (the node is full) or 429 (this address holds too many) with Retry-After, before any
// WebSocket state exists for it. Sockets that are not (yet) agent connections are bounded from the TCP connection
// on, per address and for the whole node (decideSocket). How often an address may open one is upgrade-rate.ts.
import { defaultUpgradesPerMinute } from './upgrade-rate.js';

export interface ConnectionCaps {
  /** Connections this node holds at most; 0 = no cap. */
  total: number;
  /** Connections one client address holds at most; 0 = no cap. */
  perAddress: number;
  /** Sockets that are not agent connections this node holds at most; 0 = no bound; unset = defaultNonAgentSockets(total). */
  nonAgentSockets?: number;
  /** Agent connections one client address may open a minute (burst as many); 0 = no limit; unset = defaultUpgradesPerMinute(perAddress). */
  upgradesPerMinute?: number;
}

export const DEFAULT_CONNECTION_CAPS: ConnectionCaps = { total: 50_000, perAddress: 1_000 };

/**
 * Sockets that are not agent connections (API and console clients, upgrade requests still arriving, TLS handshakes)
 * a node holds by default: a fifth of its agent cap, at least 1,024 (10,000 with no agent cap). With the defaults,
 * 50,000 agents + 10,000 others stay below LimitNOFILE=65536 (docs/scaling.md).
 */
export function defaultNonAgentSockets(total: number): number {
  return total > 0 ? Math.max(1_024, Math.ceil(total / 5)) : 10_000;
}

export const nonAgentSocketsOf = (caps: ConnectionCaps): number => caps.nonAgentSockets ?? defaultNonAgentSockets(caps.total);

export const upgradesPerMinuteOf = (caps: ConnectionCaps): number => caps.upgradesPerMinute ?? defaultUpgradesPerMinute(caps.perAddress);

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

/** What a node and one peer hold: open TCP sockets and, of them, agent connections. */
export interface SocketCounts {
  sockets: number;
  agentConnections: number;
}

export type SocketVerdict = { ok: true } | { ok: false; bound: 'node' | 'address' };

/**
 * Pure: may one more TCP socket be accepted? First the node-wide bound on sockets that are not agent connections
 * (many addresses, each under its own bound, would otherwise fill the file descriptors), then the peer's own
 * (admitSocket). `peer` null: not counted per address (a trusted proxy, or no per-address cap).
 */
export function decideSocket(caps: ConnectionCaps, node: SocketCounts, peer: SocketCounts | null): SocketVerdict {
  const nodeBound = nonAgentSocketsOf(caps);
  if (nodeBound > 0 && node.sockets - node.agentConnections >= nodeBound) return { ok: false, bound: 'node' };
  if (peer && !admitSocket(caps.perAddress, peer.sockets, peer.agentConnections)) return { ok: false, bound: 'address' };
  return { ok: true };
}

/** How often a refusal of the same kind is logged at most: a flood makes one line a minute, with its count. */
export const REFUSAL_LOG_INTERVAL_MS = 60_000;

/**
 * Logs refusals of one kind at most once per interval: the first at once, then one line per interval that counts
 * the refusals since the previous line (a flood of refused sockets must not become a flood of log lines).
 */
export function createRefusalLog(warn: (message: string, meta: Record<string, unknown>) => void, now: () => number, intervalMs = REFUSAL_LOG_INTERVAL_MS) {
  const last = new Map<string, { at: number; unlogged: number }>();
  return (message: string, meta: Record<string, unknown> = {}): void => {
    const t = now();
    const seen = last.get(message);
    if (seen && t - seen.at < intervalMs) {
      seen.unlogged += 1;
      return;
    }
    warn(message, { ...meta, refusedSinceLastLine: (seen?.unlogged ?? 0) + 1 });
    last.set(message, { at: t, unlogged: 0 });
  };
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
