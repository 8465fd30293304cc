// Private halves of the server command keys at rest in the database: AES-256-GCM under a key derived (HKDF-SHA256)
// from the nodes' key-encryption secret, the public key as associated data (a sealed key cannot be moved to another
// row), a fresh 96-bit IV each time. A copy of the database alone (a dump, a backup, a replica, a DBA's session)
// cannot sign commands. Pure.
import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from 'node:crypto';
import { publicKeyOfPrivate } from '../protocol/sign.js';

const PREFIX = 'aes256gcm.v1';
/** Bytes of a key-encryption secret. */
export const KEY_SECRET_BYTES = 32;

const kek = (secret: Buffer): Buffer => Buffer.from(hkdfSync('sha256', secret, 'rmagent-server', 'server command keys v1', 32));

export function sealPrivateKey(secret: Buffer, publicKey: string, privateKeyPem: string): string {
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', kek(secret), iv);
  cipher.setAAD(Buffer.from(publicKey));
  const body = Buffer.concat([cipher.update(privateKeyPem, 'utf8'), cipher.final()]);
  return [PREFIX, iv.toString('base64'), body.toString('base64'), cipher.getAuthTag().toString('base64')].join(':');
}

/** The private key PEM, or null when the secret is not the one it was sealed with (or the text was altered). */
export function openPrivateKey(secret: Buffer, publicKey: string, sealed: string): string | null {
  const [prefix, iv, body, tag, extra] = sealed.split(':');
  if (prefix !== PREFIX || !iv || !body || !tag || extra !== undefined) return null;
  try {
    const decipher = createDecipheriv('aes-256-gcm', kek(secret), Buffer.from(iv, 'base64'));
    decipher.setAAD(Buffer.from(publicKey));
    decipher.setAuthTag(Buffer.from(tag, 'base64'));
    const pem = Buffer.concat([decipher.update(Buffer.from(body, 'base64')), decipher.final()]).toString('utf8');
    return publicKeyOfPrivate(pem) === publicKey ? pem : null;
  } catch {
    return null;
  }
}
