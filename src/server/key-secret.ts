// The key-encryption secret of the server command keys (key-seal.ts): 32 random bytes, base64, in one file (default
// DATA/key-encryption.secret, 0600). Made by the first node that creates the keys; every other node sharing the
// database is given a copy once. Rotations never change it.
import { randomBytes } from 'node:crypto';
import { RmError } from '../protocol/errors.js';
import { readTextIfExists, writeFileAtomic } from '../system/files.js';
import { KEY_SECRET_BYTES } from './key-seal.js';

export const KEY_SECRET_FILE = 'key-encryption.secret';

/** The secret in `file`; made there when absent and `create` (no keys exist yet), else SERVER_KEYS_UNREADABLE. */
export async function loadKeySecret(file: string, create: boolean): Promise<Buffer> {
  const text = (await readTextIfExists(file))?.trim();
  if (text) {
    const secret = Buffer.from(text, 'base64');
    if (secret.length !== KEY_SECRET_BYTES || secret.toString('base64') !== text) throw new RmError('SERVER_KEYS_UNREADABLE', `${file} does not hold ${KEY_SECRET_BYTES} bytes of base64`);
    return secret;
  }
  if (!create) throw new RmError('SERVER_KEYS_UNREADABLE', `the database holds the server command keys but this node has no key-encryption secret in ${file}`);
  const secret = randomBytes(KEY_SECRET_BYTES);
  await writeFileAtomic(file, `${secret.toString('base64')}\n`);
  return secret;
}
