// Schema version 2 on PostgreSQL: the web console's sign-in and licences, as SQLite's version 2 (times BIGINT epoch
// milliseconds; secrets stored only as hashes).
export const name = 'console-sign-in';

export const sql = `
CREATE TABLE logins (
  account_id TEXT COLLATE "C" PRIMARY KEY REFERENCES accounts(id) ON DELETE CASCADE,
  email TEXT NOT NULL UNIQUE,           -- lower-case
  password_hash TEXT NOT NULL,          -- scrypt$N$r$p$salt$hash
  email_verified_at BIGINT,
  terms_accepted_at BIGINT,
  failed_attempts BIGINT NOT NULL DEFAULT 0,
  locked_until BIGINT,
  created_at BIGINT NOT NULL
);

CREATE TABLE sessions (
  id_hash TEXT COLLATE "C" PRIMARY KEY,             -- SHA-256 of the cookie value
  account_id TEXT COLLATE "C" NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
  csrf_token TEXT NOT NULL,
  created_at BIGINT NOT NULL,
  last_seen_at BIGINT NOT NULL,
  expires_at BIGINT NOT NULL
);
CREATE INDEX sessions_account ON sessions(account_id);
CREATE INDEX sessions_expiry ON sessions(expires_at);

CREATE TABLE licences (
  id TEXT COLLATE "C" PRIMARY KEY,
  product TEXT COLLATE "C" NOT NULL,
  seats BIGINT NOT NULL,
  email TEXT NOT NULL,
  key_hash TEXT NOT NULL UNIQUE,        -- SHA-256 of the activation key
  issued_at BIGINT NOT NULL,
  activated_at BIGINT,
  activated_by TEXT REFERENCES accounts(id)
);
CREATE INDEX licences_product ON licences(product, activated_at);

CREATE TABLE verifications (
  token_hash TEXT COLLATE "C" PRIMARY KEY,          -- SHA-256 of the e-mailed secret
  purpose TEXT NOT NULL,
  account_id TEXT COLLATE "C" NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
  licence_id TEXT REFERENCES licences(id) ON DELETE CASCADE,
  created_at BIGINT NOT NULL,
  expires_at BIGINT NOT NULL,
  used_at BIGINT
);
CREATE INDEX verifications_expiry ON verifications(expires_at);
`;
