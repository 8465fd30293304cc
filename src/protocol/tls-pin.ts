// TLS certificate pins: the base64 SHA-256 of a certificate's SubjectPublicKeyInfo, as openssl prints it, and the
// pin sets a server announces in `key.rotate {pins}`. Shared by the agent (checks) and the server (announces).
import { createHash, X509Certificate } from 'node:crypto';
import * as z from 'zod/mini';

export const MAX_TLS_PINS = 8;

/** Base64 of 32 bytes: 43 characters and one '='. */
export const TlsPinSchema = z.string().check(z.regex(/^[A-Za-z0-9+/]{42}[AEIMQUYcgkosw048]=$/, 'base64 SHA-256 (44 characters)'));

/** 1..8 distinct pins. */
export const TlsPinSetSchema = z
  .array(TlsPinSchema).check(z.minLength(1, 'at least one pin'), z.maxLength(MAX_TLS_PINS, `at most ${MAX_TLS_PINS} pins`), z.refine((pins) => new Set(pins).size === pins.length, 'the pins must differ'));

/** The pin of a certificate (PEM or DER; the first one of a PEM chain), or null when it does not parse. */
export function spkiPin(cert: string | Buffer): string | null {
  try {
    const spki = new X509Certificate(cert).publicKey.export({ type: 'spki', format: 'der' });
    return createHash('sha256').update(spki).digest('base64');
  } catch {
    return null;
  }
}
