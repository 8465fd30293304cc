// Schema version 2: the web console's sign-in and licences. Plain SQL any engine speaks (TEXT, INTEGER, UNIQUE,
// foreign keys); times are epoch milliseconds. Secrets (password, session cookie, licence key, e-mailed links)
// are stored only as hashes.
export const name = 'console-sign-in';

export const sql = `
CREATE TABLE logins (
  account_id TEXT PRIMARY KEY REFERENCES accounts(id) ON DELETE CASCADE,
  email TEXT NOT NULL UNIQUE,           -- lower-case
  password_hash TEXT NOT NULL,          -- scrypt$N$r$p$salt$hash
  email_verified_at INTEGER,
  terms_accepted_at INTEGER,
  failed_attempts INTEGER NOT NULL DEFAULT 0,
  locked_until INTEGER,
  created_at INTEGER NOT NULL
);

CREATE TABLE sessions (
  id_hash TEXT PRIMARY KEY,             -- SHA-256 of the cookie value
  account_id TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
  csrf_token TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  last_seen_at INTEGER NOT NULL,
  expires_at INTEGER NOT NULL
);
CREATE INDEX sessions_account ON sessions(account_id);
CREATE INDEX sessions_expiry ON sessions(expires_at);

CREATE TABLE licences (
  id TEXT PRIMARY KEY,
  product TEXT NOT NULL,
  seats INTEGER NOT NULL,
  email TEXT NOT NULL,
  key_hash TEXT NOT NULL UNIQUE,        -- SHA-256 of the activation key
  issued_at INTEGER NOT NULL,
  activated_at INTEGER,
  activated_by TEXT REFERENCES accounts(id)
);
CREATE INDEX licences_product ON licences(product, activated_at);

CREATE TABLE verifications (
  token_hash TEXT PRIMARY KEY,          -- SHA-256 of the e-mailed secret
  purpose TEXT NOT NULL,
  account_id TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
  licence_id TEXT REFERENCES licences(id) ON DELETE CASCADE,
  created_at INTEGER NOT NULL,
  expires_at INTEGER NOT NULL,
  used_at INTEGER
);
CREATE INDEX verifications_expiry ON verifications(expires_at);
`;
