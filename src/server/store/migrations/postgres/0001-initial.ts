// Schema version 1 on PostgreSQL: the same tables, columns and indexes as SQLite's version 1. Times are epoch
// milliseconds (BIGINT); JSON columns stay TEXT (read whole, never queried inside, except the few places that cast);
// keys sort bytewise (COLLATE "C") as in SQLite, whatever the database's locale, so pages come in the same order.
export const name = 'initial';

export const sql = `
CREATE TABLE roles (
  id TEXT COLLATE "C" PRIMARY KEY,
  name TEXT NOT NULL,
  permissions TEXT NOT NULL,            -- JSON array of permission names
  built_in BOOLEAN NOT NULL DEFAULT false
);

CREATE TABLE accounts (
  id TEXT COLLATE "C" PRIMARY KEY,
  name TEXT NOT NULL,
  token_hash TEXT NOT NULL UNIQUE,
  created_at BIGINT NOT NULL,
  disabled_at BIGINT
);

CREATE TABLE account_roles (
  account_id TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
  role_id TEXT NOT NULL REFERENCES roles(id),
  PRIMARY KEY (account_id, role_id)
);
CREATE INDEX account_roles_role ON account_roles(role_id);

CREATE TABLE enrollment_tokens (
  id TEXT COLLATE "C" PRIMARY KEY,
  token_hash TEXT NOT NULL UNIQUE,
  label TEXT,
  expires_at BIGINT,
  max_uses BIGINT,
  uses BIGINT NOT NULL DEFAULT 0,
  tags TEXT NOT NULL DEFAULT '[]',      -- JSON array, given to every device enrolled with the token
  created_by TEXT NOT NULL,
  created_at BIGINT NOT NULL,
  revoked_at BIGINT,
  revoked_by TEXT
);

CREATE TABLE devices (
  id TEXT COLLATE "C" PRIMARY KEY,
  public_key TEXT NOT NULL,
  facts TEXT NOT NULL,                  -- JSON DeviceFacts
  sort_name TEXT COLLATE "C" NOT NULL,              -- lower(alias or hostname): list order and search
  platform TEXT NOT NULL,
  enrolled_at BIGINT NOT NULL,
  enrolled_with TEXT,
  last_seen BIGINT,
  last_seq BIGINT NOT NULL DEFAULT 0,
  revision BIGINT NOT NULL DEFAULT 1,
  revoked_at BIGINT,
  revoked_by TEXT
);
CREATE INDEX devices_live_order ON devices(sort_name, id) WHERE revoked_at IS NULL;

CREATE TABLE device_tags (
  device_id TEXT COLLATE "C" NOT NULL REFERENCES devices(id) ON DELETE CASCADE,
  tag TEXT COLLATE "C" NOT NULL,
  PRIMARY KEY (device_id, tag)
);
CREATE INDEX device_tags_tag ON device_tags(tag, device_id);

CREATE TABLE device_services (
  device_id TEXT COLLATE "C" NOT NULL REFERENCES devices(id) ON DELETE CASCADE,
  service TEXT COLLATE "C" NOT NULL,
  state TEXT NOT NULL,                  -- JSON ServiceState as last reported
  PRIMARY KEY (device_id, service)
);

CREATE TABLE device_latest (
  device_id TEXT COLLATE "C" NOT NULL REFERENCES devices(id) ON DELETE CASCADE,
  kind TEXT COLLATE "C" NOT NULL,
  seq BIGINT NOT NULL,
  at BIGINT NOT NULL,
  received_at BIGINT NOT NULL,
  data TEXT NOT NULL,
  PRIMARY KEY (device_id, kind)
);

CREATE TABLE reports (
  device_id TEXT COLLATE "C" NOT NULL REFERENCES devices(id) ON DELETE CASCADE,
  seq BIGINT NOT NULL,
  kind TEXT COLLATE "C" NOT NULL,
  at BIGINT NOT NULL,
  received_at BIGINT NOT NULL,
  bytes BIGINT NOT NULL,
  data TEXT NOT NULL,
  invalid TEXT,
  PRIMARY KEY (device_id, seq)
);
CREATE INDEX reports_kind ON reports(device_id, kind, seq);
CREATE INDEX reports_received ON reports(received_at);

-- Running totals per device and kind, so a new report trims the oldest without summing the history.
CREATE TABLE report_usage (
  device_id TEXT COLLATE "C" NOT NULL REFERENCES devices(id) ON DELETE CASCADE,
  kind TEXT COLLATE "C" NOT NULL,
  reports BIGINT NOT NULL,
  bytes BIGINT NOT NULL,
  PRIMARY KEY (device_id, kind)
);

CREATE TABLE policies (
  id TEXT COLLATE "C" PRIMARY KEY,
  name TEXT NOT NULL,
  service TEXT COLLATE "C" NOT NULL,
  version BIGINT NOT NULL,
  settings TEXT NOT NULL,
  created_by TEXT NOT NULL,
  created_at BIGINT NOT NULL,
  updated_at BIGINT NOT NULL
);
CREATE INDEX policies_service ON policies(service, id);

CREATE TABLE activations (
  device_id TEXT COLLATE "C" NOT NULL REFERENCES devices(id) ON DELETE CASCADE,
  service TEXT COLLATE "C" NOT NULL,
  policy_id TEXT NOT NULL REFERENCES policies(id),
  activated_by TEXT NOT NULL,
  at BIGINT NOT NULL,
  PRIMARY KEY (device_id, service)
);
CREATE INDEX activations_service ON activations(service, device_id);
CREATE INDEX activations_policy ON activations(policy_id);

CREATE TABLE alerts (
  id TEXT COLLATE "C" PRIMARY KEY,
  device_id TEXT COLLATE "C" NOT NULL REFERENCES devices(id) ON DELETE CASCADE,
  key TEXT NOT NULL,
  service TEXT COLLATE "C" NOT NULL,
  "check" TEXT NOT NULL,
  severity TEXT NOT NULL,
  message TEXT NOT NULL,
  value DOUBLE PRECISION,
  threshold DOUBLE PRECISION,
  raised_at BIGINT NOT NULL,
  cleared_at BIGINT,
  acked_by TEXT,
  acked_at BIGINT
);
CREATE INDEX alerts_order ON alerts(raised_at DESC, id DESC);
CREATE INDEX alerts_device ON alerts(device_id, raised_at DESC);
CREATE UNIQUE INDEX alerts_open_key ON alerts(device_id, key) WHERE cleared_at IS NULL;
CREATE INDEX alerts_cleared ON alerts(cleared_at) WHERE cleared_at IS NOT NULL;

CREATE TABLE commands (
  id TEXT COLLATE "C" PRIMARY KEY,
  device_id TEXT COLLATE "C" NOT NULL,              -- no foreign key: cancelled commands outlive a deleted device's data
  type TEXT NOT NULL,
  body TEXT NOT NULL,
  actor TEXT,
  created_at BIGINT NOT NULL,
  status TEXT NOT NULL,
  reason TEXT,
  updated_at BIGINT NOT NULL,
  attempts BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX commands_device ON commands(device_id, created_at DESC, id DESC);
CREATE INDEX commands_pending ON commands(device_id, created_at, id) WHERE status IN ('queued', 'sent', 'accepted');
CREATE INDEX commands_type ON commands(type, created_at);

CREATE TABLE webhooks (
  id TEXT COLLATE "C" PRIMARY KEY,
  url TEXT NOT NULL,
  secret TEXT NOT NULL,
  events TEXT NOT NULL,                 -- JSON array of event names
  created_by TEXT NOT NULL,
  created_at BIGINT NOT NULL
);

CREATE TABLE webhook_deliveries (
  id TEXT COLLATE "C" PRIMARY KEY,
  webhook_id TEXT NOT NULL REFERENCES webhooks(id) ON DELETE CASCADE,
  event TEXT NOT NULL,
  payload TEXT NOT NULL,
  status TEXT NOT NULL,
  attempts BIGINT NOT NULL DEFAULT 0,
  next_attempt_at BIGINT NOT NULL,
  lease_until BIGINT NOT NULL DEFAULT 0,
  last_error TEXT,
  created_at BIGINT NOT NULL,
  delivered_at BIGINT
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries(next_attempt_at) WHERE status = 'pending';
CREATE INDEX webhook_deliveries_hook ON webhook_deliveries(webhook_id, created_at DESC, id DESC);
`;
