// PostgreSQL repository of the server command keys, shared by every node.
import type { PgDb } from './postgres-db.js';
import { INSERT_SERVER_KEY, serverKeyParams, toServerKey } from './sqlite-keys.js';
import type { Repos } from './store.js';

/** Any constant: the advisory lock that serialises changes to the key chain across nodes. */
const CHAIN_LOCK = 0x726d6b31; // "rmk1"

export function postgresServerKeys(db: PgDb): Repos['serverKeys'] {
  return {
    async lockChain() {
      await db.get('SELECT pg_advisory_xact_lock(?)', CHAIN_LOCK);
    },
    list: async () => (await db.all('SELECT * FROM server_keys ORDER BY position')).map(toServerKey),
    async insert(key) {
      await db.run(INSERT_SERVER_KEY, ...serverKeyParams(key));
    },
    async retire(publicKey, at) {
      await db.run('UPDATE server_keys SET retired_at = ?, sealed_private_key = NULL WHERE public_key = ?', at, publicKey);
    },
  };
}
