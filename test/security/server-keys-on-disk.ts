// What a thief of a server's data folder reads: the command keys' private halves, opened from the SQLite database
// with the folder's key-encryption secret (the tests that play an attacker holding a retired key use this).
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { openPrivateKey } from '../../src/server/key-seal.js';

/** public key -> private key PEM, for every key that still has its private half. */
export function privateKeysIn(dataDir: string): Map<string, string> {
  const secret = Buffer.from(readFileSync(path.join(dataDir, 'key-encryption.secret'), 'utf8').trim(), 'base64');
  const db = new DatabaseSync(path.join(dataDir, 'rmagent.db'), { readOnly: true });
  try {
    const rows = db.prepare('SELECT public_key AS k, sealed_private_key AS s FROM server_keys WHERE sealed_private_key IS NOT NULL').all() as Array<{ k: string; s: string }>;
    return new Map(rows.map((r) => [r.k, openPrivateKey(secret, r.k, r.s)!]));
  } finally {
    db.close();
  }
}
