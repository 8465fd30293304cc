// Transport checks: which server URLs may be used (wss:// always, ws:// only to loopback unless allowed),
// and the TLS options for `ws` (extra CA file, SPKI sha256 pins).
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import type { Duplex } from 'node:stream';
import { checkServerIdentity, connect as tlsConnect, rootCertificates, type ConnectionOptions, type PeerCertificate } from 'node:tls';
import type { ClientOptions } from 'ws';
import { ERRORS } from '../protocol/errors.js';
import { spkiPin } from '../protocol/tls-pin.js';
import { tlsPinsInUse, type LearnedPins } from './tls-pins.js';
import type { Config } from '../config/schema.js';

export type TransportVerdict = { ok: true; insecure: boolean } | { ok: false; code: 'INSECURE_TRANSPORT'; message: string };

export function isLoopbackHost(hostname: string): boolean {
  const h = hostname.replace(/^\[|\]$/g, '').toLowerCase();
  if (h === 'localhost' || h === '::1' || h === '0:0:0:0:0:0:0:1') return true;
  return /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h);
}

/** Decides whether the agent may talk to `url`. Pure. */
export function checkTransport(url: string, opts: { allowInsecure: boolean }): TransportVerdict {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return { ok: false, code: 'INSECURE_TRANSPORT', message: `${ERRORS.INSECURE_TRANSPORT.message}: ${JSON.stringify(url.slice(0, 200))} is not a URL` };
  }
  if (parsed.protocol === 'wss:') return { ok: true, insecure: false };
  if (parsed.protocol !== 'ws:') return { ok: false, code: 'INSECURE_TRANSPORT', message: `${parsed.protocol} is not a WebSocket scheme (use wss://)` };
  if (isLoopbackHost(parsed.hostname)) return { ok: true, insecure: false };
  if (opts.allowInsecure) return { ok: true, insecure: true };
  return { ok: false, code: 'INSECURE_TRANSPORT', message: `${ERRORS.INSECURE_TRANSPORT.message} (${parsed.hostname})` };
}

/**
 * Base64 SHA-256 of a certificate's SubjectPublicKeyInfo (DER), as `pinSha256` expects and as openssl computes it.
 * Taken from the certificate itself: tls's `cert.pubkey` is the bare key (an EC point for EC keys), not the SPKI.
 */
export const spkiSha256 = (cert: Pick<PeerCertificate, 'raw'>): string | null => spkiPin(cert.raw);

/** Checks the usual host name rules and then that the key is one of `pins`; returns an Error to refuse the connection (tls contract). */
export function pinnedIdentityCheck(pins: readonly string[]) {
  return (host: string, cert: PeerCertificate): Error | undefined => {
    const usual = checkServerIdentity(host, cert);
    if (usual) return usual;
    const actual = spkiSha256(cert);
    if (actual === null || !pins.includes(actual)) return Object.assign(new Error(`server certificate public key ${actual ?? '(none)'} does not match the pinned ${pins.join(', ')}`), { code: 'TLS_PIN_MISMATCH' });
    return undefined;
  };
}

/** TLS options for a `ws` client from config.connection and the pins learned from the server (caFile read here, once per attempt). */
export function tlsOptions(config: Pick<Config, 'connection'>, learned: LearnedPins | null = null, readCa: (file: string) => Buffer = (f) => readFileSync(f), roots?: readonly string[]): ClientOptions {
  const { caFile, pinSha256 } = config.connection;
  const { pins } = tlsPinsInUse(learned, pinSha256);
  const options: ClientOptions = {};
  // The trusted set is Node's bundled roots plus the caFile's CAs (docs/security.md), tried in two steps (connectTrusting).
  if (caFile) options.createConnection = connectTrusting(readCa(caFile), roots) as unknown as ClientOptions['createConnection'];
  // ws hands this to tls.connect, whose contract is Error | undefined (the ws typings say boolean).
  if (pins.length) options.checkServerIdentity = pinnedIdentityCheck(pins) as unknown as ClientOptions['checkServerIdentity'];
  return options;
}

// A chain OpenSSL could not lead to a trusted anchor: another anchor could fix these (and only these).
const UNKNOWN_ISSUER = new Set(['UNABLE_TO_GET_ISSUER_CERT_LOCALLY', 'UNABLE_TO_GET_ISSUER_CERT', 'UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'SELF_SIGNED_CERT_IN_CHAIN', 'DEPTH_ZERO_SELF_SIGNED_CERT', 'CERT_UNTRUSTED']);

/**
 * ws's `createConnection` trusting `roots` (default: Node's bundled ones) plus `ca`, in two steps: the handshake is
 * tried against `ca` alone, and again against roots + `ca` only when the chain leads to neither of its CAs. A chain is
 * valid under roots + `ca` exactly when it is valid under one of them, so the trust is the same as one handshake
 * with `ca: [...roots, ca]` would give; but the usual case (a private CA's server) never parses the ~150 bundled
 * roots, whose copy in each connection's context cost ~2.6 MB of resident memory (bench/analysis.md, issue 19).
 */
export function connectTrusting(ca: Buffer, roots?: readonly string[]) {
  return (options: ConnectionOptions, done: (err: Error | null, socket?: Duplex) => void): void => {
    // As ws's own tlsConnect: no path, and SNI only for a host name.
    const base: ConnectionOptions = { ...options, path: undefined } as ConnectionOptions;
    if (!base.servername && base.servername !== '') base.servername = isIP(base.host ?? '') ? '' : base.host;
    const first = tlsConnect({ ...base, ca: [ca] });
    const settle = (err: Error | null, socket?: Duplex) => {
      // Decided once; from here http's own listeners report this socket's errors (a listener stays, so none is unhandled).
      first.off('secureConnect', onSecure).off('error', onError).on('error', () => undefined);
      done(err, socket);
    };
    const onSecure = () => settle(null, first);
    const onError = (err: NodeJS.ErrnoException) => {
      if (!UNKNOWN_ISSUER.has(String(err.code))) return settle(err);
      settle(null, tlsConnect({ ...base, ca: [...(roots ?? rootCertificates), ca] }));
    };
    first.once('secureConnect', onSecure).once('error', onError);
  };
}

// OpenSSL/Node verification failures (untrusted, expired, wrong name): the ones `caFile` or the URL can fix.
const TLS_ERROR = /^(ERR_TLS_|ERR_SSL_|UNABLE_TO_|DEPTH_ZERO_|SELF_SIGNED_|CERT_|HOSTNAME_MISMATCH)/;

/** The status code for a socket error: TLS_PIN_MISMATCH, TLS_FAILED, or SERVER_UNREACHABLE for the rest. Pure. */
export function transportErrorCode(err: { code?: unknown }): 'TLS_PIN_MISMATCH' | 'TLS_FAILED' | 'SERVER_UNREACHABLE' {
  const code = typeof err.code === 'string' ? err.code : '';
  if (code === 'TLS_PIN_MISMATCH') return code;
  return TLS_ERROR.test(code) ? 'TLS_FAILED' : 'SERVER_UNREACHABLE';
}
