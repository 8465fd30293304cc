// Schema version 4: the server command keys live in the database, so every node sharing it signs with the same
// current key and a rotation through any node is used by all. Private halves are sealed (key-seal.ts).
export const name = 'server-keys';

export const sql = `
CREATE TABLE server_keys (
  position INTEGER PRIMARY KEY,           -- 0 = the chain's root; each later key is endorsed by the one before
  public_key TEXT NOT NULL UNIQUE,
  sealed_private_key TEXT,                -- AES-256-GCM under the key-encryption secret; NULL once retired
  created_at INTEGER NOT NULL,
  retired_at INTEGER,
  endorsement TEXT                        -- JSON {key, signedBy, sig}; NULL for the root
);
`;
