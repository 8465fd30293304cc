// SQLite repository of the server command keys (one node; the same records as on PostgreSQL).
import { json, num, numOrNull, parseJson, strOrNull, type Db, type Row } from './sqlite-db.js';
import type { ServerKeyRecord } from './records.js';
import type { SyncOf } from './sqlite-sync.js';
import type { Repos } from './store.js';

export const toServerKey = (r: Row | Record<string, unknown>): ServerKeyRecord => ({
  position: num(r.position),
  publicKey: String(r.public_key),
  sealedPrivateKey: strOrNull(r.sealed_private_key),
  createdAt: num(r.created_at),
  retiredAt: numOrNull(r.retired_at),
  endorsement: r.endorsement === null || r.endorsement === undefined ? null : parseJson(r.endorsement),
});

export const INSERT_SERVER_KEY = 'INSERT INTO server_keys (position, public_key, sealed_private_key, created_at, retired_at, endorsement) VALUES (?, ?, ?, ?, ?, ?)';
export const serverKeyParams = (k: ServerKeyRecord) => [k.position, k.publicKey, k.sealedPrivateKey, k.createdAt, k.retiredAt, k.endorsement ? json(k.endorsement) : null] as const;

export function sqliteServerKeys(db: Db): SyncOf<Repos['serverKeys']> {
  return {
    lockChain() {
      // A SQLite write transaction is exclusive already.
    },
    list: () => db.all('SELECT * FROM server_keys ORDER BY position').map(toServerKey),
    insert(key) {
      db.run(INSERT_SERVER_KEY, ...serverKeyParams(key));
    },
    retire(publicKey, at) {
      db.run('UPDATE server_keys SET retired_at = ?, sealed_private_key = NULL WHERE public_key = ?', at, publicKey);
    },
  };
}
