// Schema version 3: which server node holds which device's connection, kept in the database so every node's API
// tells the truth when several nodes share it. A node beats every few seconds; a node whose beat is older than the
// presence TTL is dead, and the devices it held are offline (any node removes them).
export const name = 'presence';

export const sql = `
CREATE TABLE server_nodes (
  id TEXT COLLATE "C" PRIMARY KEY,
  started_at BIGINT NOT NULL,
  beat_at BIGINT NOT NULL,
  info TEXT NOT NULL                    -- JSON: host name, process id, listen address (for operators and tests)
);

CREATE TABLE presence (
  device_id TEXT COLLATE "C" PRIMARY KEY,         -- no foreign key: a deleted device's socket is being closed anyway
  node_id TEXT COLLATE "C" NOT NULL,
  since BIGINT NOT NULL
);
CREATE INDEX presence_node ON presence(node_id);
`;
