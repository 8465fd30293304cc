// Schema version 1. JSON columns hold what is only ever read whole (facts, settings, report data); what is filtered
// or joined on has its own column or table. Times are epoch milliseconds (INTEGER).
export const name = 'initial';

export const sql = `
CREATE TABLE roles (
  id TEXT PRIMARY KEY,
  name TEXT NOT NULL,
  permissions TEXT NOT NULL,            -- JSON array of permission names
  built_in INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE accounts (
  id TEXT PRIMARY KEY,
  name TEXT NOT NULL,
  token_hash TEXT NOT NULL UNIQUE,
  created_at INTEGER NOT NULL,
  disabled_at INTEGER
);

CREATE TABLE account_roles (
  account_id TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
  role_id TEXT NOT NULL REFERENCES roles(id),
  PRIMARY KEY (account_id, role_id)
);
CREATE INDEX account_roles_role ON account_roles(role_id);

CREATE TABLE enrollment_tokens (
  id TEXT PRIMARY KEY,
  token_hash TEXT NOT NULL UNIQUE,
  label TEXT,
  expires_at INTEGER,
  max_uses INTEGER,
  uses INTEGER NOT NULL DEFAULT 0,
  tags TEXT NOT NULL DEFAULT '[]',      -- JSON array, given to every device enrolled with the token
  created_by TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  revoked_at INTEGER,
  revoked_by TEXT
);

CREATE TABLE devices (
  id TEXT PRIMARY KEY,
  public_key TEXT NOT NULL,
  facts TEXT NOT NULL,                  -- JSON DeviceFacts
  sort_name TEXT NOT NULL,              -- lower(alias or hostname): list order and search
  platform TEXT NOT NULL,
  enrolled_at INTEGER NOT NULL,
  enrolled_with TEXT,
  last_seen INTEGER,
  last_seq INTEGER NOT NULL DEFAULT 0,
  revision INTEGER NOT NULL DEFAULT 1,
  revoked_at INTEGER,
  revoked_by TEXT
);
CREATE INDEX devices_live_order ON devices(sort_name, id) WHERE revoked_at IS NULL;

CREATE TABLE device_tags (
  device_id TEXT NOT NULL REFERENCES devices(id) ON DELETE CASCADE,
  tag TEXT NOT NULL,
  PRIMARY KEY (device_id, tag)
);
CREATE INDEX device_tags_tag ON device_tags(tag, device_id);

CREATE TABLE device_services (
  device_id TEXT NOT NULL REFERENCES devices(id) ON DELETE CASCADE,
  service TEXT NOT NULL,
  state TEXT NOT NULL,                  -- JSON ServiceState as last reported
  PRIMARY KEY (device_id, service)
);

CREATE TABLE device_latest (
  device_id TEXT NOT NULL REFERENCES devices(id) ON DELETE CASCADE,
  kind TEXT NOT NULL,
  seq INTEGER NOT NULL,
  at INTEGER NOT NULL,
  received_at INTEGER NOT NULL,
  data TEXT NOT NULL,
  PRIMARY KEY (device_id, kind)
);

CREATE TABLE reports (
  device_id TEXT NOT NULL REFERENCES devices(id) ON DELETE CASCADE,
  seq INTEGER NOT NULL,
  kind TEXT NOT NULL,
  at INTEGER NOT NULL,
  received_at INTEGER NOT NULL,
  bytes INTEGER NOT NULL,
  data TEXT NOT NULL,
  invalid TEXT,
  PRIMARY KEY (device_id, seq)
) WITHOUT ROWID;
CREATE INDEX reports_kind ON reports(device_id, kind, seq);
CREATE INDEX reports_received ON reports(received_at);

-- Running totals per device and kind, so a new report trims the oldest without summing the history.
CREATE TABLE report_usage (
  device_id TEXT NOT NULL REFERENCES devices(id) ON DELETE CASCADE,
  kind TEXT NOT NULL,
  reports INTEGER NOT NULL,
  bytes INTEGER NOT NULL,
  PRIMARY KEY (device_id, kind)
);

CREATE TABLE policies (
  id TEXT PRIMARY KEY,
  name TEXT NOT NULL,
  service TEXT NOT NULL,
  version INTEGER NOT NULL,
  settings TEXT NOT NULL,
  created_by TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL
);
CREATE INDEX policies_service ON policies(service, id);

CREATE TABLE activations (
  device_id TEXT NOT NULL REFERENCES devices(id) ON DELETE CASCADE,
  service TEXT NOT NULL,
  policy_id TEXT NOT NULL REFERENCES policies(id),
  activated_by TEXT NOT NULL,
  at INTEGER NOT NULL,
  PRIMARY KEY (device_id, service)
);
CREATE INDEX activations_service ON activations(service, device_id);
CREATE INDEX activations_policy ON activations(policy_id);

CREATE TABLE alerts (
  id TEXT PRIMARY KEY,
  device_id TEXT NOT NULL REFERENCES devices(id) ON DELETE CASCADE,
  key TEXT NOT NULL,
  service TEXT NOT NULL,
  "check" TEXT NOT NULL,
  severity TEXT NOT NULL,
  message TEXT NOT NULL,
  value REAL,
  threshold REAL,
  raised_at INTEGER NOT NULL,
  cleared_at INTEGER,
  acked_by TEXT,
  acked_at INTEGER
);
CREATE INDEX alerts_order ON alerts(raised_at DESC, id DESC);
CREATE INDEX alerts_device ON alerts(device_id, raised_at DESC);
CREATE UNIQUE INDEX alerts_open_key ON alerts(device_id, key) WHERE cleared_at IS NULL;
CREATE INDEX alerts_cleared ON alerts(cleared_at) WHERE cleared_at IS NOT NULL;

CREATE TABLE commands (
  id TEXT PRIMARY KEY,
  device_id TEXT NOT NULL,              -- no foreign key: cancelled commands outlive a deleted device's data
  type TEXT NOT NULL,
  body TEXT NOT NULL,
  actor TEXT,
  created_at INTEGER NOT NULL,
  status TEXT NOT NULL,
  reason TEXT,
  updated_at INTEGER NOT NULL,
  attempts INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX commands_device ON commands(device_id, created_at DESC, id DESC);
CREATE INDEX commands_pending ON commands(device_id, created_at, id) WHERE status IN ('queued', 'sent', 'accepted');
CREATE INDEX commands_type ON commands(type, created_at);

CREATE TABLE webhooks (
  id TEXT PRIMARY KEY,
  url TEXT NOT NULL,
  secret TEXT NOT NULL,
  events TEXT NOT NULL,                 -- JSON array of event names
  created_by TEXT NOT NULL,
  created_at INTEGER NOT NULL
);

CREATE TABLE webhook_deliveries (
  id TEXT PRIMARY KEY,
  webhook_id TEXT NOT NULL REFERENCES webhooks(id) ON DELETE CASCADE,
  event TEXT NOT NULL,
  payload TEXT NOT NULL,
  status TEXT NOT NULL,
  attempts INTEGER NOT NULL DEFAULT 0,
  next_attempt_at INTEGER NOT NULL,
  lease_until INTEGER NOT NULL DEFAULT 0,
  last_error TEXT,
  created_at INTEGER NOT NULL,
  delivered_at INTEGER
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries(next_attempt_at) WHERE status = 'pending';
CREATE INDEX webhook_deliveries_hook ON webhook_deliveries(webhook_id, created_at DESC, id DESC);
`;
