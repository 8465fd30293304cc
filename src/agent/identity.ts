// The device's identity: its registration record (server, pinned keys, enrollment token until used, device id)
// and its Ed25519 key. Local registration (`rmagent enroll`) works offline; enrollment with the server comes later.
import path from 'node:path';
import { createHash } from 'node:crypto';
import * as z from 'zod/mini';
import { fileMode, fileStamp, readJsonFile, readTextIfExists, writeFileAtomic, writeJsonAtomic, type ReadResult } from '../system/files.js';
import { problem, RmError, type Problem } from '../protocol/errors.js';
import { PublicKeySchema } from '../protocol/frames.js';
import { MAX_TLS_PINS, TlsPinSchema } from '../protocol/tls-pin.js';
import { generateKeyPair, keyFingerprint, publicKeyOfPrivate, type KeyPair } from '../protocol/sign.js';
import type { Clock } from '../system/clock.js';
import { createCommandRunner } from '../system/exec.js';
import { readOsMachineId, type MachineIdSources } from '../system/machine-id.js';
import type { Logger } from '../log.js';
import type { IdentityStore, Registration } from './contracts.js';

export const REGISTRATION_FILE = 'registration.json';
export const DEVICE_KEY_FILE = 'device.key';

// Built at each read and not kept: the file is read once at start, and its schema objects would otherwise stay in
// the idle daemon's heap (docs/benchmarks.md, issue 19).
const registrationFileSchema = () => z.strictObject({
  v: z.literal(1),
  serverUrl: z.string().check(z.minLength(1)),
  enrollmentToken: z.nullable(z.string().check(z.minLength(1))),
  /** Hash of the last token given, so re-running the same `enroll` after enrollment is still "no change". */
  tokenSha256: z.nullable(z.string()),
  serverKeys: z.array(PublicKeySchema),
  deviceId: z.nullable(z.string().check(z.minLength(1))),
  machineId: z.string().check(z.minLength(1)),
  publicKey: PublicKeySchema,
  alias: z.nullable(z.string()),
  assignmentId: z.nullable(z.string()),
  registeredAt: z.int().check(z.nonnegative()),
  enrolledAt: z.nullable(z.int().check(z.nonnegative())),
  /** Set when a cloned disk was detected; cleared by the next enrollment. */
  cloned: z.boolean(),
  /** Learned TLS pins (absent in files written before pin rotation existed). */
  tlsPins: z._default(z.array(TlsPinSchema).check(z.maxLength(MAX_TLS_PINS)), []),
  tlsPinsBase: z._default(z.nullable(z.string()), null),
});
type RegistrationFile = z.infer<ReturnType<typeof registrationFileSchema>>;

const toRegistration = ({ v: _v, tokenSha256: _t, cloned: _c, ...r }: RegistrationFile): Registration => r;
const sha256 = (text: string) => createHash('sha256').update(text, 'utf8').digest('hex');

/** http->ws, https->wss, an empty path becomes /agent; anything but ws/wss/http/https is a usage error. Pure. */
export function normaliseServerUrl(raw: string): string {
  let url: URL;
  try {
    url = new URL(raw.trim());
  } catch {
    throw new RmError('CLI_USAGE', `--server ${JSON.stringify(raw.slice(0, 200))} is not a URL`);
  }
  const scheme = { 'http:': 'ws:', 'https:': 'wss:', 'ws:': 'ws:', 'wss:': 'wss:' }[url.protocol];
  if (!scheme) throw new RmError('CLI_USAGE', `--server must be a wss://, ws://, https:// or http:// URL, not ${url.protocol}`);
  if (url.username || url.password) throw new RmError('CLI_USAGE', '--server must not carry credentials');
  const rest = `${url.host}${url.pathname === '/' || url.pathname === '' ? '/agent' : url.pathname}${url.search}`;
  return `${scheme}//${rest}`;
}

/** A pinned server key is base64 of 32 raw Ed25519 bytes. Pure. */
export function validateServerKey(key: string): string {
  const trimmed = key.trim();
  if (!PublicKeySchema.safeParse(trimmed).success || Buffer.from(trimmed, 'base64').length !== 32) {
    throw new RmError('CLI_USAGE', '--server-key must be the base64 of a 32-byte Ed25519 public key');
  }
  return trimmed;
}

export interface RegisterOptions {
  stateDir: string;
  machineId: string;
  serverUrl: string;
  token: string;
  serverKey?: string;
  assignmentId?: string;
  alias?: string;
  force?: boolean;
  clock: Clock;
}

export type ExistingRegistration = { status: 'missing' } | { status: 'invalid'; reason: string } | { status: 'ok'; value: RegistrationFile; keyMatches: boolean };

export interface RegistrationPlan {
  changed: boolean;
  record: RegistrationFile;
  /** A new key pair to write before the record. */
  newKey: KeyPair | null;
  notes: string[];
}

/** Decides what `rmagent enroll` changes, from the current record and the arguments. Pure but for `makeKey`. */
export function planRegistration(existing: ExistingRegistration, opts: Omit<RegisterOptions, 'stateDir' | 'clock'> & { now: number }, makeKey: () => KeyPair): RegistrationPlan {
  const serverUrl = normaliseServerUrl(opts.serverUrl);
  const serverKey = opts.serverKey === undefined ? undefined : validateServerKey(opts.serverKey);
  if (opts.token.length < 8 || opts.token.length > 256 || /\s/.test(opts.token)) throw new RmError('CLI_USAGE', '--token must be 8 to 256 characters without spaces');
  const notes: string[] = [];
  const fresh = (why: string): RegistrationPlan => {
    const key = makeKey();
    notes.push(`${why}; device key ${keyFingerprint(key.publicKey)}`);
    const record: RegistrationFile = {
      v: 1, serverUrl, enrollmentToken: opts.token, tokenSha256: sha256(opts.token), serverKeys: serverKey ? [serverKey] : [], deviceId: null,
      machineId: opts.machineId, publicKey: key.publicKey, alias: opts.alias ?? null, assignmentId: opts.assignmentId ?? null,
      registeredAt: opts.now, enrolledAt: null, cloned: existing.status === 'ok' && (existing.value.cloned || existing.value.machineId !== opts.machineId),
      tlsPins: [], tlsPinsBase: null,
    };
    return { changed: true, record, newKey: key, notes };
  };
  if (existing.status === 'missing') return fresh(`registered with ${serverUrl}`);
  if (existing.status === 'invalid') {
    if (!opts.force) throw new RmError('REGISTRATION_CORRUPT', existing.reason);
    return fresh(`replaced the unreadable registration; registered with ${serverUrl}`);
  }
  const old = existing.value;
  if (old.serverUrl !== serverUrl) {
    if (!opts.force) throw new RmError('REGISTERED_ELSEWHERE', `registered with ${old.serverUrl}, asked for ${serverUrl}`);
    return fresh(`moved from ${old.serverUrl} to ${serverUrl}`);
  }
  const newToken = old.tokenSha256 !== sha256(opts.token);
  if (old.machineId !== opts.machineId) return fresh('the machine id changed (cloned disk or image): new device identity');
  if (!existing.keyMatches) return fresh('the device key was missing or did not match: new device identity');
  if (newToken && old.deviceId && opts.force) return fresh(`re-registered with ${serverUrl} to enroll again`);

  const record: RegistrationFile = { ...old };
  if (newToken) {
    record.tokenSha256 = sha256(opts.token);
    if (old.deviceId) notes.push(`already enrolled as ${old.deviceId}: the new token is not needed (add --force to enroll again)`);
    else {
      record.enrollmentToken = opts.token;
      notes.push('recorded the new enrollment token');
    }
  }
  if (serverKey && !old.serverKeys.includes(serverKey)) {
    // An enrolled device learned its keys from the server (rotations, endorsements): an installer repair or a
    // configuration-management run with the original --server-key must not roll them back.
    if (old.deviceId && !opts.force) notes.push(`already enrolled as ${old.deviceId}: kept the pinned server key${old.serverKeys.length > 1 ? 's' : ''} ${old.serverKeys.map(keyFingerprint).join(', ')} (--server-key ${keyFingerprint(serverKey)} is not pinned; add --force to pin it instead)`);
    else {
      record.serverKeys = [serverKey];
      notes.push(`pinned server key ${keyFingerprint(serverKey)}`);
    }
  }
  if (opts.alias !== undefined && opts.alias !== old.alias) {
    record.alias = opts.alias;
    notes.push(`alias set to ${opts.alias}`);
  }
  if (opts.assignmentId !== undefined && opts.assignmentId !== old.assignmentId) {
    record.assignmentId = opts.assignmentId;
    notes.push('recorded the TeamViewer assignment id');
  }
  const changed = JSON.stringify(record) !== JSON.stringify(old);
  if (!changed) notes.push(`no change: already registered with ${serverUrl}${old.deviceId ? ` as ${old.deviceId}` : ''}`);
  return { changed, record, newKey: null, notes };
}

async function readRecord(stateDir: string): Promise<ReadResult<RegistrationFile>> {
  return readJsonFile(path.join(stateDir, REGISTRATION_FILE), registrationFileSchema());
}

async function keyMatches(stateDir: string, publicKey: string): Promise<boolean> {
  try {
    const pem = await readTextIfExists(path.join(stateDir, DEVICE_KEY_FILE));
    return pem !== undefined && publicKeyOfPrivate(pem) === publicKey;
  } catch {
    return false;
  }
}

// The key is written before the record that names it: a crash in between leaves the old record, whose key
// then no longer matches, which load() reports and the next `enroll` repairs.
async function writeIdentity(stateDir: string, record: RegistrationFile, key: KeyPair | null): Promise<void> {
  if (key) await writeFileAtomic(path.join(stateDir, DEVICE_KEY_FILE), key.privateKeyPem);
  await writeJsonAtomic(path.join(stateDir, REGISTRATION_FILE), record);
}

/** `rmagent enroll`: records server, token, pins and a device key. Offline; idempotent. */
export async function registerDevice(opts: RegisterOptions): Promise<{ changed: boolean; registration: Registration; notes: string[] }> {
  const read = await readRecord(opts.stateDir);
  const existing: ExistingRegistration =
    read.status === 'ok' ? { status: 'ok', value: read.value, keyMatches: await keyMatches(opts.stateDir, read.value.publicKey) } : read;
  const plan = planRegistration(existing, { ...opts, now: opts.clock.now() }, generateKeyPair);
  if (plan.changed) await writeIdentity(opts.stateDir, plan.record, plan.newKey);
  return { changed: plan.changed, registration: toRegistration(plan.record), notes: plan.notes };
}

/** Read-only view of the registration for `status` and `doctor` (never repairs anything). */
export async function readRegistration(stateDir: string): Promise<ReadResult<Registration>> {
  const read = await readRecord(stateDir);
  return read.status === 'ok' ? { status: 'ok', value: toRegistration(read.value) } : read;
}

/** The OS machine id (src/system/machine-id.ts: no shell, no host name), or the configured override (containers, tests). */
export async function readMachineId(override?: string, sources: Partial<MachineIdSources> = {}): Promise<string> {
  if (override) return override;
  try {
    return await readOsMachineId({ platform: process.platform, root: '/', runner: createCommandRunner(), systemRoot: process.env.SystemRoot, ...sources });
  } catch (err) {
    if ((err as { code?: string }).code === 'MACHINE_ID_UNAVAILABLE') throw new RmError('MACHINE_ID_UNAVAILABLE', (err as Error).message);
    throw err;
  }
}

export function createIdentityStore(opts: { stateDir: string; machineId: string; clock: Clock; logger: Logger }): IdentityStore {
  const { stateDir, machineId, clock, logger } = opts;
  let problems: Problem[] = [];
  // One change at a time: load() may rewrite the record (cloned disk) while the connection marks enrollment.
  let chain: Promise<unknown> = Promise.resolve();
  const serial = <T>(work: () => Promise<T>): Promise<T> => {
    const next = chain.catch(() => undefined).then(work);
    chain = next;
    return next;
  };

  async function loadNow(): Promise<Registration | null> {
    const found: Problem[] = [];
    const read = await readRecord(stateDir);
    if (read.status !== 'ok') {
      if (read.status === 'invalid') found.push(problem('REGISTRATION_CORRUPT', read.reason));
      problems = found;
      return null;
    }
    let record = read.value;
    if (record.machineId !== machineId) {
      // A cloned disk must not present the original device's identity: new key, no device id, same server.
      const key = generateKeyPair();
      record = { ...record, machineId, publicKey: key.publicKey, deviceId: null, enrolledAt: null, cloned: true };
      await writeIdentity(stateDir, record, key);
      logger.warn('machine id changed: created a new device identity', { server: record.serverUrl, deviceKey: keyFingerprint(key.publicKey) });
    } else if (!(await keyMatches(stateDir, record.publicKey))) {
      problems = [problem('REGISTRATION_CORRUPT', `${DEVICE_KEY_FILE} is missing or does not match the registration`)];
      return null;
    }
    if (record.cloned) found.push(problem('CLONED_IDENTITY'));
    if (process.platform !== 'win32') {
      for (const file of [REGISTRATION_FILE, DEVICE_KEY_FILE]) {
        const mode = await fileMode(path.join(stateDir, file));
        if (mode !== undefined && (mode & 0o077) !== 0) found.push(problem('STATE_PERMISSIONS', `${path.join(stateDir, file)} is ${mode.toString(8)}`));
      }
    }
    problems = found;
    return toRegistration(record);
  }

  // Commands call load() each time (keys may have rotated). Reading, validating and re-deriving the device key
  // costs about a millisecond; two stats tell whether either file changed since the last load.
  let cached: { version: string; value: Registration | null; problems: Problem[] } | null = null;
  async function loadCached(): Promise<Registration | null> {
    const version = (await Promise.all([REGISTRATION_FILE, DEVICE_KEY_FILE].map((f) => fileStamp(path.join(stateDir, f))))).join('|');
    if (cached?.version === version) {
      problems = [...cached.problems];
      return cached.value;
    }
    const value = await loadNow();
    cached = { version, value, problems: [...problems] };
    return value;
  }

  async function update(change: (r: RegistrationFile) => RegistrationFile): Promise<Registration> {
    const read = await readRecord(stateDir);
    if (read.status !== 'ok') throw new RmError(read.status === 'missing' ? 'NOT_REGISTERED' : 'REGISTRATION_CORRUPT', read.status === 'invalid' ? read.reason : undefined);
    const record = change(read.value);
    await writeIdentity(stateDir, record, null);
    return toRegistration(record);
  }

  return {
    load: () => serial(loadCached),
    async privateKeyPem() {
      const pem = await readTextIfExists(path.join(stateDir, DEVICE_KEY_FILE));
      if (!pem) throw new RmError('REGISTRATION_CORRUPT', `${DEVICE_KEY_FILE} is missing`);
      return pem;
    },
    markEnrolled: (deviceId, serverKey) =>
      serial(async () => {
        const r = await update((rec) => ({
          ...rec, deviceId, enrolledAt: clock.now(), enrollmentToken: null, cloned: false,
          // Trust on first enrollment: the key the server presented is pinned when none was given at install.
          serverKeys: rec.serverKeys.length ? rec.serverKeys : [serverKey],
        }));
        problems = problems.filter((p) => p.code !== 'CLONED_IDENTITY');
        return r;
      }),
    setServerKeys: (keys) =>
      serial(() =>
        update((rec) => {
          // The last guard: an empty set would leave nothing to verify commands with.
          if (!keys.length) throw new RmError('KEY_ROTATION_INVALID', 'refusing to leave no pinned server key');
          return { ...rec, serverKeys: [...new Set(keys.map(validateServerKey))] };
        }),
      ),
    setTlsPins: (pins, base) => serial(() => update((rec) => ({ ...rec, tlsPins: [...new Set(pins)], tlsPinsBase: base }))),
    problems: () => [...problems],
  };
}
