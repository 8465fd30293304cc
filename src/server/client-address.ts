// Whose connection this is, for limits counted per address (agent connection caps, API rate limits, sign-in
// attempts). The peer's address, unless the operator named that peer a trusted proxy (--trusted-proxies): then the
// right-most X-Forwarded-For entry that is not itself a trusted proxy. Entries left of it were written by the client
// and are never believed. Pure apart from reading the request.
import { BlockList, isIP } from 'node:net';
import type { IncomingMessage } from 'node:http';

export type TrustedProxies = BlockList | null;

/** Parses "10.0.0.5,10.1.0.0/16,::1": addresses and CIDR ranges. Throws a plain Error naming the bad entry. */
export function parseTrustedProxies(text: string): BlockList {
  const list = new BlockList();
  for (const entry of text.split(',').map((e) => e.trim()).filter(Boolean)) {
    const [address = '', bits, extra] = entry.split('/');
    const family = isIP(address);
    const prefix = bits === undefined ? null : Number(bits);
    if (!family || extra !== undefined || (prefix !== null && (!/^\d{1,3}$/.test(bits!) || prefix > (family === 4 ? 32 : 128)))) {
      throw new Error(`${JSON.stringify(entry.slice(0, 60))} is not an IP address or CIDR range`);
    }
    const type = family === 4 ? 'ipv4' : 'ipv6';
    if (prefix === null) list.addAddress(address, type);
    else list.addSubnet(address, prefix, type);
  }
  return list;
}

/** "::ffff:127.0.0.1" (an IPv4 peer on a dual-stack socket) is 127.0.0.1. */
export function normalizeAddress(address: string): string {
  const mapped = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/i.exec(address);
  return (mapped ? mapped[1]! : address).toLowerCase();
}

/**
 * Pure: the key a client is counted under by the per-address bounds. An IPv4 address (also written IPv4-mapped,
 * ::ffff:a.b.c.d or ::ffff:7f00:1) is itself; an IPv6 address is its /64 ("2001:db8:1:2::/64"), since one
 * subscriber or site is given at least a /64 and picks any of its 2^64 addresses at will. Anything else ("unknown")
 * is returned as it is.
 */
export function addressGroupOf(address: string): string {
  const plain = normalizeAddress(address.replace(/%.*$/, '')); // a zone (fe80::1%eth0) is no part of the address
  if (isIP(plain) !== 6) return plain;
  const groups = ipv6Groups(plain);
  if (!groups) return plain;
  if (groups.slice(0, 5).every((g) => g === 0) && groups[5] === 0xffff) {
    return [groups[6]! >> 8, groups[6]! & 0xff, groups[7]! >> 8, groups[7]! & 0xff].join('.');
  }
  const prefix = [...groups.slice(0, 4), 0, 0, 0, 0].map((g) => g.toString(16)).join(':');
  return `${new URL(`http://[${prefix}]/`).hostname.slice(1, -1)}/64`; // the URL parser writes the short form (RFC 5952)
}

/** The eight 16-bit groups of an IPv6 address Node accepted (isIP 6), a dotted IPv4 tail included; null if not. */
function ipv6Groups(address: string): number[] | null {
  let text = address;
  const dotted = /(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(text);
  if (dotted) {
    const [a, b, c, d] = dotted.slice(1).map(Number) as [number, number, number, number];
    text = `${text.slice(0, dotted.index)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head = '', tail, extra] = text.split('::');
  if (extra !== undefined) return null;
  const parse = (part: string) => (part ? part.split(':').map((g) => parseInt(g, 16)) : []);
  const left = parse(head);
  const right = tail === undefined ? [] : parse(tail);
  const missing = 8 - left.length - right.length;
  if ((tail === undefined && missing !== 0) || missing < 0 || [...left, ...right].some((g) => !(g >= 0 && g <= 0xffff))) return null;
  return [...left, ...Array<number>(missing).fill(0), ...right];
}

/** Is this peer address a named --trusted-proxies balancer? */
export const isTrustedProxy = (proxies: TrustedProxies, peer: string): boolean => proxies !== null && trusted(proxies, normalizeAddress(peer));

function trusted(list: BlockList, address: string): boolean {
  const family = isIP(address);
  return family !== 0 && list.check(address, family === 4 ? 'ipv4' : 'ipv6');
}

/** The client's address: decided from the peer address and the X-Forwarded-For header(s). Pure. */
export function decideClientAddress(peer: string | undefined, forwardedFor: string | string[] | undefined, proxies: TrustedProxies): string {
  let client = normalizeAddress(peer ?? 'unknown');
  if (!proxies || !trusted(proxies, client)) return client;
  const hops = (Array.isArray(forwardedFor) ? forwardedFor.join(',') : forwardedFor ?? '').split(',').map((h) => normalizeAddress(h.trim()));
  // From the right: each trusted hop vouches for the entry before it; the first untrusted one is the client.
  for (let i = hops.length - 1; i >= 0 && i >= hops.length - 32; i--) {
    const hop = hops[i]!;
    if (!isIP(hop)) break; // not written by a proxy we trust: stop at the last hop we could vouch for
    client = hop;
    if (!trusted(proxies, hop)) break;
  }
  return client;
}

export const clientAddressOf = (req: IncomingMessage, proxies: TrustedProxies): string =>
  decideClientAddress(req.socket.remoteAddress, req.headers['x-forwarded-for'], proxies);
