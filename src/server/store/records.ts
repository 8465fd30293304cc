// The server's records as the Store hands them out: plain data, times in epoch milliseconds, no engine types.
import type { ReportKind } from '../../protocol/frames.js';
import type { DeviceFacts, ServiceName } from '../../protocol/model.js';
import type { Permission } from '../access.js';

export interface RoleRecord {
  id: string;
  name: string;
  permissions: Permission[];
  /** The default roles (company administrator, business user, user) cannot be deleted. */
  builtIn: boolean;
}

export interface AccountRecord {
  id: string;
  name: string;
  /** SHA-256 of the API token; the token itself is shown once. */
  tokenHash: string;
  roleIds: string[];
  createdAt: number;
  /** A disabled account's token is refused (401) until it is enabled again. */
  disabledAt: number | null;
}

export interface EnrollmentTokenRecord {
  id: string;
  tokenHash: string;
  label: string | null;
  expiresAt: number | null;
  maxUses: number | null;
  uses: number;
  /** Tags every device enrolled with this token receives. */
  tags: string[];
  createdBy: string;
  createdAt: number;
  revokedAt: number | null;
  revokedBy: string | null;
}

export interface DeviceRecord {
  id: string;
  publicKey: string;
  facts: DeviceFacts;
  enrolledAt: number;
  /** The enrollment token it enrolled with (null when that token was deleted). */
  enrolledWith: string | null;
  lastSeen: number | null;
  /** Highest report seq stored; what the next welcome says. */
  lastSeq: number;
  /** Bumped whenever what the device should run changes; sent as desired.state.revision. */
  revision: number;
  tags: string[];
  /** Deleted devices keep a revoked row so their key is refused by name (DEVICE_REVOKED), never re-admitted. */
  revokedAt: number | null;
  revokedBy: string | null;
}

export interface LatestReport {
  kind: ReportKind;
  seq: number;
  at: number;
  receivedAt: number;
  data: Record<string, unknown>;
}

export interface ReportRecord {
  deviceId: string;
  seq: number;
  kind: ReportKind;
  at: number;
  receivedAt: number;
  /** Size of `data` as stored (UTF-8 JSON), what the per-device and per-kind budgets count. */
  bytes: number;
  data: Record<string, unknown>;
  /** Why the data did not match its kind's schema (kept, not applied); null when it did. */
  invalid: string | null;
}

export interface PolicyRecord {
  id: string;
  name: string;
  service: ServiceName;
  version: number;
  settings: Record<string, unknown>;
  createdBy: string;
  createdAt: number;
  updatedAt: number;
}

export interface ActivationRecord {
  deviceId: string;
  service: ServiceName;
  policyId: string;
  activatedBy: string;
  at: number;
}

export interface AlertRecord {
  id: string;
  deviceId: string;
  key: string;
  service: ServiceName;
  check: string;
  severity: 'info' | 'warning' | 'critical';
  message: string;
  value: number | null;
  threshold: number | null;
  raisedAt: number;
  clearedAt: number | null;
  ackedBy: string | null;
  ackedAt: number | null;
}

/**
 * queued = waiting to be sent; sent = on the wire, no ack yet; accepted = the device took it (outcome pending);
 * the rest are final. interrupted = the device had taken it but the connection or the agent restarted before its
 * outcome arrived; expired = waited longer than the queue's time to live; cancelled = its device was deleted.
 */
export const COMMAND_STATUSES = ['queued', 'sent', 'accepted', 'rejected', 'done', 'failed', 'interrupted', 'expired', 'cancelled'] as const;
export type CommandStatus = (typeof COMMAND_STATUSES)[number];
export const PENDING_COMMAND_STATUSES: readonly CommandStatus[] = ['queued', 'sent', 'accepted'];

export interface CommandRecord {
  id: string;
  deviceId: string;
  type: string;
  body: Record<string, unknown>;
  actor: string | null;
  createdAt: number;
  status: CommandStatus;
  reason: { code: string; message: string } | null;
  updatedAt: number;
  /** Times it was put on the wire (redeliveries included). */
  attempts: number;
}

export const WEBHOOK_EVENTS = ['alert.raised', 'alert.cleared'] as const;
export type WebhookEvent = (typeof WEBHOOK_EVENTS)[number];

export interface WebhookRecord {
  id: string;
  url: string;
  /** HMAC-SHA256 key the deliveries are signed with; shown once at creation. */
  secret: string;
  events: WebhookEvent[];
  createdBy: string;
  createdAt: number;
}

export interface WebhookDeliveryRecord {
  id: string;
  webhookId: string;
  event: WebhookEvent;
  /** The exact JSON body that is signed and posted. */
  payload: string;
  status: 'pending' | 'delivered' | 'failed';
  attempts: number;
  nextAttemptAt: number;
  lastError: string | null;
  createdAt: number;
  deliveredAt: number | null;
}

/** Keyset pagination: `cursor` is opaque (the previous page's `next`). */
export interface PageRequest {
  limit: number;
  cursor: string | null;
}

export interface Page<T> {
  items: T[];
  /** Cursor of the next page; null on the last page. */
  next: string | null;
}

/** How an account signs in to the web console: e-mail and password (the API token stays for automation). */
export interface LoginRecord {
  accountId: string;
  /** Lower-case; unique over all accounts. */
  email: string;
  /** scrypt$N$r$p$salt$hash (passwords.ts); never the password. */
  passwordHash: string;
  /** Sign-in is refused until the address is verified through the e-mailed link. */
  emailVerifiedAt: number | null;
  /** When the account holder accepted the licence terms. */
  termsAcceptedAt: number | null;
  /** Wrong passwords in a row; reset by a good one. */
  failedAttempts: number;
  /** Sign-in refused until then (epoch ms) after too many wrong passwords. */
  lockedUntil: number | null;
  createdAt: number;
}

/** A signed-in browser: the cookie holds the secret, the store only its hash. */
export interface SessionRecord {
  /** SHA-256 of the session cookie's value. */
  idHash: string;
  accountId: string;
  /** Sent back in X-CSRF-Token by the pages on every change; bound to this session. */
  csrfToken: string;
  createdAt: number;
  lastSeenAt: number;
  /** Idle expiry, moved forward by use, never past createdAt + the absolute lifetime. */
  expiresAt: number;
}

/** A licence for one product with a number of device seats, activated once by an account. */
export interface LicenceRecord {
  id: string;
  /** The service the licence is for (monitoring, patch_management, ...). */
  product: string;
  seats: number;
  /** Where the activation e-mail went (the buyer). */
  email: string;
  /** SHA-256 of the activation key in the e-mailed link. */
  keyHash: string;
  issuedAt: number;
  activatedAt: number | null;
  activatedBy: string | null;
}

/** A one-time secret sent by e-mail: verifying an address (and then activating the licence it came with). */
export interface VerificationRecord {
  /** SHA-256 of the secret in the link. */
  tokenHash: string;
  purpose: 'verify_email';
  accountId: string;
  /** The licence whose activation page the account was created from, activated once verified. */
  licenceId: string | null;
  createdAt: number;
  expiresAt: number;
  usedAt: number | null;
}

export interface ServerNodeRecord {
  /** Random at each start of a server process. */
  id: string;
  startedAt: number;
  beatAt: number;
  info: { host: string; pid: number; listen: string };
}

/** One server command key (position 0 = the chain's root; each later one endorsed by the one before it). */
export interface ServerKeyRecord {
  position: number;
  publicKey: string;
  /** The private half sealed under the nodes' key-encryption secret (key-seal.ts); null once retired. */
  sealedPrivateKey: string | null;
  createdAt: number;
  retiredAt: number | null;
  endorsement: { key: string; signedBy: string; sig: string } | null;
}
