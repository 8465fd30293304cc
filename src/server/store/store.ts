// The one Store interface every part of the server talks to. Engines implement it (sqlite.ts today; a PostgreSQL
// one next) with their own versioned migrations (migrations/<engine>/). Rules every engine keeps:
// - Every method is async and changes only the rows it names: no whole-document rewrites.
// - A method called on the Store runs in its own transaction; several calls that must stand or fall together run
//   in store.transaction(fn), whose `tx` has the same methods. Nothing outside fn sees its changes before commit,
//   and the returned promise resolves only once the commit is durable (a report is acknowledged after that).
// - `forUpdate` options lock the row until the transaction ends (PostgreSQL: SELECT ... FOR UPDATE; SQLite's
//   write transactions are exclusive already). Use them where two nodes could race (token uses, device seq).
// - publish() inside a transaction is delivered after the commit, to every subscriber on every node that shares
//   the database (PostgreSQL: NOTIFY/LISTEN; SQLite: this process only), never for a rolled-back transaction.
import type { ReportKind } from '../../protocol/frames.js';
import type { DeviceFacts, ServiceName, ServiceState } from '../../protocol/model.js';
import type {
  AccountRecord,
  ActivationRecord,
  AlertRecord,
  CommandRecord,
  CommandStatus,
  DeviceRecord,
  EnrollmentTokenRecord,
  LatestReport,
  LicenceRecord,
  LoginRecord,
  Page,
  PageRequest,
  PolicyRecord,
  ReportRecord,
  RoleRecord,
  ServerKeyRecord,
  ServerNodeRecord,
  SessionRecord,
  VerificationRecord,
  WebhookDeliveryRecord,
  WebhookEvent,
  WebhookRecord,
} from './records.js';

export type * from './records.js';

export interface Lock {
  /** Lock the row until the transaction ends (only meaningful inside store.transaction). */
  forUpdate?: boolean;
}

export interface DeviceFilter {
  /** Devices carrying every one of these tags. */
  tags?: readonly string[];
  /** Case-insensitive substring of the alias or the hostname. */
  search?: string;
  platform?: string;
}

export interface ReportLimits {
  /** History kept per device and report kind, in bytes of data (the newest report is always kept). */
  bytesPerKind: number;
  /** History kept per device over all kinds, in bytes of data. */
  bytesPerDevice: number;
}

export interface AlertFilter {
  open?: boolean;
  deviceId?: string;
  /** Only alerts of services this account activated on the alert's device (the "own" scope). */
  ownedBy?: string;
}

export interface Repos {
  /** Which server node holds which device's connection (several nodes share one database). */
  presence: {
    /** The node is alive at `at`; false when it was not known (first beat, or expired by another node meanwhile). */
    beat(node: ServerNodeRecord, at: number): Promise<boolean>;
    /** This node gained `connected` (taken over from any other node) and lost `disconnected` (only if it still held them). */
    update(nodeId: string, changes: { connected: readonly string[]; disconnected: readonly string[] }, at: number): Promise<void>;
    /** Devices held by nodes that beat at or after `aliveSince`, except `exceptNode`'s. */
    online(aliveSince: number, exceptNode: string | null): Promise<Array<{ deviceId: string; nodeId: string }>>;
    /** Removes nodes that have not beaten since `aliveSince`, and what they held; returns how many devices that was. */
    expire(aliveSince: number): Promise<number>;
    /** A node stopping: it and what it held. */
    leave(nodeId: string): Promise<void>;
    nodes(): Promise<ServerNodeRecord[]>;
  };
  /** The server command keys, shared by every node (key rotation through any node's API is used by all). */
  serverKeys: {
    /** Inside a transaction: waits for and holds the chain until it ends, so two rotations cannot race (PostgreSQL: advisory lock). */
    lockChain(): Promise<void>;
    /** Oldest first. */
    list(): Promise<ServerKeyRecord[]>;
    insert(key: ServerKeyRecord): Promise<void>;
    /** Marks the key retired and drops its private half. */
    retire(publicKey: string, at: number): Promise<void>;
  };
  roles: {
    list(): Promise<RoleRecord[]>;
    get(id: string): Promise<RoleRecord | null>;
    insert(role: RoleRecord): Promise<void>;
    update(id: string, patch: Partial<Pick<RoleRecord, 'name' | 'permissions'>>): Promise<void>;
    delete(id: string): Promise<void>;
    /** How many accounts hold the role. */
    holders(id: string): Promise<number>;
  };
  accounts: {
    byTokenHash(tokenHash: string): Promise<AccountRecord | null>;
    get(id: string): Promise<AccountRecord | null>;
    list(page: PageRequest): Promise<Page<AccountRecord>>;
    insert(account: AccountRecord): Promise<void>;
    update(id: string, patch: Partial<Pick<AccountRecord, 'name' | 'roleIds' | 'tokenHash' | 'disabledAt'>>): Promise<void>;
  };
  /** E-mail and password sign-in of accounts (one per account, e-mail unique). */
  logins: {
    get(accountId: string): Promise<LoginRecord | null>;
    /** `email` lower-case. */
    byEmail(email: string, lock?: Lock): Promise<LoginRecord | null>;
    insert(login: LoginRecord): Promise<void>;
    update(accountId: string, patch: Partial<Pick<LoginRecord, 'passwordHash' | 'emailVerifiedAt' | 'termsAcceptedAt' | 'failedAttempts' | 'lockedUntil'>>): Promise<void>;
    /** Counts one wrong password; at `lockAfter` in a row the sign-in is locked until `lockUntil`. Returns the row after. */
    recordFailure(accountId: string, lockAfter: number, lockUntil: number): Promise<LoginRecord | null>;
  };
  /** Console sessions (browser cookies), by the hash of the cookie's value. */
  sessions: {
    insert(session: SessionRecord): Promise<void>;
    /** Only a session not expired at `now`. */
    byHash(idHash: string, now: number): Promise<SessionRecord | null>;
    touch(idHash: string, lastSeenAt: number, expiresAt: number): Promise<void>;
    delete(idHash: string): Promise<void>;
    /** Signs the account out everywhere (password change, account disabled); returns how many. */
    deleteForAccount(accountId: string): Promise<number>;
    /** Retention: removes sessions expired before `now`; returns how many. */
    pruneExpired(now: number): Promise<number>;
  };
  licences: {
    insert(licence: LicenceRecord): Promise<void>;
    get(id: string): Promise<LicenceRecord | null>;
    byKeyHash(keyHash: string, lock?: Lock): Promise<LicenceRecord | null>;
    /** Newest first. */
    list(page: PageRequest): Promise<Page<LicenceRecord>>;
    /** Marks an issued licence activated; false when it was activated already (nothing changes). */
    activate(id: string, at: number, by: string): Promise<boolean>;
    /** How many licences were ever issued (0 = the server runs unlicensed: seats are not counted). */
    count(): Promise<number>;
    /**
     * Seats of a product: the sum over its activated licences, and how many devices have the service activated
     * (each device with the service uses one seat).
     */
    seats(product: string): Promise<{ total: number; used: number }>;
  };
  /** One-time e-mailed secrets (address verification). */
  verifications: {
    insert(v: VerificationRecord): Promise<void>;
    byHash(tokenHash: string, lock?: Lock): Promise<VerificationRecord | null>;
    /** Marks it used; false when it was used already (a second click does nothing). */
    use(tokenHash: string, at: number): Promise<boolean>;
    /** Retention: removes the ones expired before `now`; returns how many. */
    pruneExpired(now: number): Promise<number>;
  };
  enrollmentTokens: {
    insert(token: EnrollmentTokenRecord): Promise<void>;
    get(id: string): Promise<EnrollmentTokenRecord | null>;
    byHash(tokenHash: string, lock?: Lock): Promise<EnrollmentTokenRecord | null>;
    list(page: PageRequest, options?: { includeRevoked?: boolean }): Promise<Page<EnrollmentTokenRecord>>;
    recordUse(id: string): Promise<void>;
    revoke(id: string, at: number, by: string): Promise<void>;
  };
  devices: {
    /** Revoked devices only with includeRevoked (the handshake must tell a revoked key from an unknown one). */
    get(id: string, options?: Lock & { includeRevoked?: boolean }): Promise<DeviceRecord | null>;
    list(filter: DeviceFilter, page: PageRequest): Promise<Page<DeviceRecord>>;
    /** Live devices with these ids (unknown and revoked ones are left out). */
    many(ids: readonly string[]): Promise<DeviceRecord[]>;
    /** Ids of the live devices matching the filter, at most `max` (+1 so the caller can tell it was cut). */
    ids(filter: DeviceFilter, max: number): Promise<string[]>;
    count(): Promise<number>;
    insert(device: DeviceRecord): Promise<void>;
    updateFacts(id: string, facts: DeviceFacts): Promise<void>;
    /** Moves lastSeq forward (never back) and lastSeen. */
    advance(id: string, lastSeq: number, seenAt: number): Promise<void>;
    recordSeen(ids: readonly string[], at: number): Promise<void>;
    bumpRevision(ids: readonly string[]): Promise<void>;
    setTags(id: string, tags: readonly string[]): Promise<void>;
    /** Every tag in use and how many live devices carry it. */
    tags(): Promise<Array<{ tag: string; devices: number }>>;
    /** Marks the device revoked and removes what it reported, its activations and alerts; pending commands are cancelled. */
    revoke(id: string, at: number, by: string): Promise<void>;
  };
  deviceState: {
    /** Services each device reported, for many devices at once. */
    services(deviceIds: readonly string[]): Promise<Map<string, ServiceState[]>>;
    putService(deviceId: string, state: ServiceState): Promise<void>;
    latest(deviceId: string): Promise<LatestReport[]>;
    putLatest(deviceId: string, latest: LatestReport, dataJson?: string): Promise<void>;
  };
  reports: {
    /**
     * Stores one report and trims the oldest of the device (same kind first) to the limits; returns how many were
     * trimmed. `dataJson` is report.data already serialised (reports reach 1 MB: serialised once per report).
     */
    append(report: ReportRecord, limits: ReportLimits, dataJson?: string): Promise<{ trimmed: number }>;
    /** Reports with seq > after, oldest first; `kinds` null = all kinds. */
    list(deviceId: string, options: { kinds: readonly ReportKind[] | null; after: number; limit: number }): Promise<ReportRecord[]>;
    usage(deviceId: string): Promise<Array<{ kind: ReportKind; reports: number; bytes: number }>>;
    /** Retention: removes reports received before `cutoff`; returns how many. */
    pruneBefore(cutoff: number): Promise<number>;
  };
  policies: {
    list(page: PageRequest, filter?: { service?: ServiceName }): Promise<Page<PolicyRecord>>;
    get(id: string, lock?: Lock): Promise<PolicyRecord | null>;
    many(ids: readonly string[]): Promise<PolicyRecord[]>;
    insert(policy: PolicyRecord): Promise<void>;
    update(id: string, patch: Pick<PolicyRecord, 'name' | 'settings' | 'version' | 'updatedAt'>): Promise<void>;
    delete(id: string): Promise<void>;
  };
  activations: {
    forDevices(deviceIds: readonly string[]): Promise<ActivationRecord[]>;
    forService(service: ServiceName, page: PageRequest): Promise<Page<ActivationRecord>>;
    get(deviceId: string, service: ServiceName | string): Promise<ActivationRecord | null>;
    byPolicy(policyId: string): Promise<ActivationRecord[]>;
    upsert(activation: ActivationRecord): Promise<void>;
    delete(deviceId: string, service: ServiceName): Promise<void>;
  };
  alerts: {
    /** Newest first. */
    list(filter: AlertFilter, page: PageRequest): Promise<Page<AlertRecord>>;
    get(id: string): Promise<AlertRecord | null>;
    openByKey(deviceId: string, key: string): Promise<AlertRecord | null>;
    countOpen(deviceId: string): Promise<number>;
    insert(alert: AlertRecord): Promise<void>;
    update(id: string, patch: Partial<Omit<AlertRecord, 'id' | 'deviceId' | 'key'>>): Promise<void>;
    /** Retention: removes alerts cleared before `cutoff`; returns how many. */
    pruneClearedBefore(cutoff: number): Promise<number>;
  };
  commands: {
    insert(commands: readonly CommandRecord[]): Promise<void>;
    get(id: string): Promise<CommandRecord | null>;
    /** Newest first. */
    listForDevice(deviceId: string, page: PageRequest): Promise<Page<CommandRecord>>;
    /** queued, sent and accepted commands of a device, oldest first. */
    pending(deviceId: string): Promise<CommandRecord[]>;
    countPending(deviceId: string, options: { excludeTypes: readonly string[] }): Promise<number>;
    /** Sets the status of the named commands of the device whose status is one of `from`; returns how many changed. */
    transition(deviceId: string, ids: readonly string[], from: readonly CommandStatus[], to: { status: CommandStatus; reason: CommandRecord['reason']; at: number; sent?: boolean }): Promise<number>;
    ofType(type: string): Promise<CommandRecord[]>;
    /** Final commands beyond the newest `keep` of each device, or older than `before`, are removed; returns how many. */
    pruneFinal(keep: number, before: number): Promise<number>;
    /** Queued commands created before `before` (except excludeTypes) end as expired; returns how many. */
    expireQueued(before: number, at: number, options: { excludeTypes: readonly string[] }): Promise<number>;
  };
  webhooks: {
    list(): Promise<WebhookRecord[]>;
    get(id: string): Promise<WebhookRecord | null>;
    insert(webhook: WebhookRecord): Promise<void>;
    delete(id: string): Promise<void>;
    forEvent(event: WebhookEvent): Promise<WebhookRecord[]>;
  };
  webhookDeliveries: {
    insert(deliveries: readonly WebhookDeliveryRecord[]): Promise<void>;
    /** Pending deliveries due by `now`, leased for leaseMs so another worker (node) does not take them too. */
    claimDue(now: number, limit: number, leaseMs: number): Promise<WebhookDeliveryRecord[]>;
    list(webhookId: string, page: PageRequest): Promise<Page<WebhookDeliveryRecord>>;
    settle(id: string, outcome: { status: WebhookDeliveryRecord['status']; attempts: number; nextAttemptAt: number; lastError: string | null; deliveredAt: number | null }): Promise<void>;
    /** Retention: removes settled deliveries created before `cutoff`; returns how many. */
    pruneBefore(cutoff: number): Promise<number>;
  };
}

export const TOPICS = ['command', 'device.revoked', 'presence', 'server-keys'] as const;
export type Topic = (typeof TOPICS)[number];
export interface TopicPayload {
  /** New commands wait for this device: whichever node holds its socket sends them. */
  command: { deviceId: string };
  /** The device was deleted: whichever node holds its socket closes it. */
  'device.revoked': { deviceId: string };
  /** A node gained or lost device connections (what it wrote with presence.update). */
  presence: { nodeId: string; connected: string[]; disconnected: string[] };
  /** The server command keys changed (rotated or retired): every node reads them again. */
  'server-keys': { keys: number };
}

export interface Transaction extends Repos {
  /** Delivered to subscribers after the commit (never when the transaction rolls back). */
  publish<T extends Topic>(topic: T, payload: TopicPayload[T]): void;
}

// Every repository, once: a key missing here is a type error, so both engines hand out the same set.
const REPO_KEYS: Record<keyof Repos, true> = {
  presence: true, serverKeys: true, roles: true, accounts: true, logins: true, sessions: true, licences: true,
  verifications: true, enrollmentTokens: true, devices: true, deviceState: true, reports: true, policies: true,
  activations: true, alerts: true, commands: true, webhooks: true, webhookDeliveries: true,
};

/** Delegates to `current()`'s repositories, so a Store object can be handed out before open() made them. */
export function lazyRepos(current: () => Repos): Repos {
  const lazy = <K extends keyof Repos>(key: K): Repos[K] =>
    new Proxy({} as Repos[K], { get: (_t, method) => (current()[key] as Record<string | symbol, unknown>)[method] });
  return Object.fromEntries(Object.keys(REPO_KEYS).map((key) => [key, lazy(key as keyof Repos)])) as unknown as Repos;
}

export interface Store extends Repos {
  readonly engine: 'sqlite' | 'postgres';
  /** Opens the database and applies the migrations it lacks. */
  open(): Promise<{ created: boolean; schemaVersion: number }>;
  transaction<T>(fn: (tx: Transaction) => Promise<T>): Promise<T>;
  publish<T extends Topic>(topic: T, payload: TopicPayload[T]): Promise<void>;
  /** Returns the unsubscribe function. Listeners run after the commit; their promises are awaited by the publisher. */
  subscribe<T extends Topic>(topic: T, listener: (payload: TopicPayload[T]) => Promise<void> | void): () => void;
  /** Cheap round trip for /readyz. */
  ping(): Promise<void>;
  /** Size on disk (SQLite: database + WAL files), for metrics and tests. */
  sizeBytes(): Promise<number>;
  close(): Promise<void>;
}
