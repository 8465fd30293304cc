// The server's command keys over time, kept in the store (table server_keys) so every node sharing the database
// signs with the same key: oldest first, each endorsed by its predecessor. Scheme: the server signs with the OLDEST
// ACTIVE key until it is retired, so during an overlap every device — up to date or not — verifies every command;
// after retire the next key signs, and a device that slept through the rotation follows the endorsement chain in
// hello. Private halves are sealed under the nodes' key-encryption secret (key-seal.ts). A rotation or retirement
// through any node is one transaction under the chain lock and announced on the `server-keys` topic; every node
// reads the keys again then (and when its notification connection came back). DATA/server-key.pub always holds the
// signing key. Key files of an older server (server-keys.json, server-key) are imported on first start.
import { unlink } from 'node:fs/promises';
import path from 'node:path';
import * as z from 'zod/mini';
import { PublicKeySchema, MAX_ENDORSEMENTS, MAX_PINNED_KEYS } from '../protocol/frames.js';
import { endorseKey, type Endorsement } from '../protocol/key-chain.js';
import { generateKeyPair, keyFingerprint, publicKeyOfPrivate, type KeyPair } from '../protocol/sign.js';
import { RmError } from '../protocol/errors.js';
import type { Logger } from '../log.js';
import { readJsonFile, readTextIfExists, writeFileAtomic } from '../system/files.js';
import { openPrivateKey, sealPrivateKey } from './key-seal.js';
import { KEY_SECRET_FILE, loadKeySecret } from './key-secret.js';
import type { ServerKeyRecord, Store, Transaction } from './store/store.js';

/** DATA/server-keys.json of rmagent-server before the keys moved into the database (imported once). */
const LegacyKeyringSchema = z.strictObject({
  v: z.literal(1),
  keys: z.array(z.strictObject({
    publicKey: PublicKeySchema,
    privateKeyPem: z.nullable(z.string()),
    createdAt: z.number(),
    retiredAt: z.nullable(z.number()),
    endorsement: z.nullable(z.strictObject({ key: PublicKeySchema, signedBy: PublicKeySchema, sig: z.string() })),
  })).check(z.minLength(1)),
});
const LEGACY_FILES = ['server-keys.json', 'server-key'] as const;

export interface KeyView {
  publicKey: string;
  fingerprint: string;
  state: 'signing' | 'active' | 'retired';
  createdAt: number;
  retiredAt: number | null;
}

export interface Keyring {
  /** The key commands are signed with now (the oldest active one). */
  signing(): KeyPair;
  /** The newest key (what a rotation announces). */
  newest(): string;
  /**
   * Chain links up to the signing key, oldest first, for server.hello: from the newest of `pinned` the keyring knows
   * (what the device needs), else the newest MAX_ENDORSEMENTS.
   */
  endorsements(pinned?: readonly string[]): Endorsement[];
  /**
   * Chain links from the signing key up to `publicKey`, oldest first, for key.rotate: a device adds a new key only if
   * it is endorsed from the newest key it pins, which (after any handshake) is the signing key or newer.
   */
  chainTo(publicKey: string): Endorsement[];
  /** Keys not retired, oldest first. */
  active(): string[];
  /** The key pair of an active key, null when it is retired or unknown. */
  activePair(publicKey: string): KeyPair | null;
  list(): KeyView[];
  /** Adds a key endorsed by the newest one; the current ones stay active (overlap). */
  rotate(now: number): Promise<KeyView>;
  /** Throws API_INVALID unless `publicKey` is the signing key and a newer one is active. */
  assertRetirable(publicKey: string): void;
  /** Retires the signing key; the next one signs from now on. */
  retire(publicKey: string, now: number): Promise<{ retired: string; signing: string }>;
  /** Reads the keys from the store again (another node changed them). */
  reload(): Promise<void>;
}

interface KeyEntry extends ServerKeyRecord {
  /** Opened in memory; null once retired. */
  privateKeyPem: string | null;
}

export interface KeyringOptions {
  store: Store;
  dataDir: string;
  logger: Logger;
  now: number;
  /** The key-encryption secret's file (default DATA/key-encryption.secret). */
  secretFile?: string;
}

/** Only the signing key can be retired, and only while a newer key is there to take over. Pure. */
function checkRetirable(keys: readonly ServerKeyRecord[], publicKey: string): void {
  const active = keys.filter((k) => k.retiredAt === null);
  const current = active[0]!;
  if (publicKey !== current.publicKey) {
    const known = keys.find((k) => k.publicKey === publicKey);
    const state = !known ? null : known.retiredAt !== null ? 'retired' : 'active';
    throw new RmError('API_INVALID', known ? `only the signing key ${keyFingerprint(current.publicKey)} can be retired now (${keyFingerprint(publicKey)} is ${state})` : 'unknown server key');
  }
  if (active.length < 2) throw new RmError('API_INVALID', 'rotate first: retiring the only active key would leave nothing to sign with');
}

/** The chain an older server kept in DATA: server-keys.json, else the single server-key (the chain's root). */
async function legacyChain(dataDir: string): Promise<Array<{ publicKey: string; privateKeyPem: string | null; createdAt: number; retiredAt: number | null; endorsement: Endorsement | null }> | null> {
  const file = path.join(dataDir, 'server-keys.json');
  const read = await readJsonFile(file, LegacyKeyringSchema);
  if (read.status === 'invalid') throw new RmError('SERVER_STORE_CORRUPT', `${file}: ${read.reason}`);
  if (read.status === 'ok') return read.value.keys;
  const pem = await readTextIfExists(path.join(dataDir, 'server-key'));
  return pem ? [{ publicKey: publicKeyOfPrivate(pem), privateKeyPem: pem, createdAt: 0, retiredAt: null, endorsement: null }] : null;
}

export async function loadKeyring(opts: KeyringOptions): Promise<Keyring> {
  const { store, dataDir, logger } = opts;
  const secretFile = opts.secretFile ?? path.join(dataDir, KEY_SECRET_FILE);
  // Made only by a node that creates the keys: a node joining a database that holds keys must be given the secret.
  const secret = await loadKeySecret(secretFile, (await store.serverKeys.list()).length === 0);
  let keys: KeyEntry[] = [];

  const open = (rows: readonly ServerKeyRecord[]): KeyEntry[] =>
    rows.map((r) => {
      const privateKeyPem = r.sealedPrivateKey === null ? null : openPrivateKey(secret, r.publicKey, r.sealedPrivateKey);
      if (r.sealedPrivateKey !== null && privateKeyPem === null) throw new RmError('SERVER_KEYS_UNREADABLE', `server key ${keyFingerprint(r.publicKey)} does not open with the secret in ${secretFile}`);
      return { ...r, privateKeyPem };
    });
  const active = () => keys.filter((k) => k.retiredAt === null);
  const signingEntry = () => active()[0]!;
  let publishedPub = '';
  const adopt = async (rows: readonly ServerKeyRecord[]) => {
    const opened = open(rows);
    if (!opened.some((k) => k.retiredAt === null)) throw new RmError('SERVER_STORE_CORRUPT', 'the database holds no active server key');
    keys = opened;
    const pub = signingEntry().publicKey;
    if (pub !== publishedPub) {
      // Public, for `rmagent enroll --server-key` on this machine.
      await writeFileAtomic(path.join(dataDir, 'server-key.pub'), `${pub}\n`, 0o644);
      publishedPub = pub;
    }
  };
  const view = (k: KeyEntry): KeyView => ({
    publicKey: k.publicKey,
    fingerprint: keyFingerprint(k.publicKey),
    state: k.retiredAt !== null ? 'retired' : k === signingEntry() ? 'signing' : 'active',
    createdAt: k.createdAt,
    retiredAt: k.retiredAt,
  });
  const seal = (publicKey: string, pem: string | null) => (pem === null ? null : sealPrivateKey(secret, publicKey, pem));
  /** Changes the chain under its lock, from what is committed now, and tells every node. */
  const change = async <T>(fn: (tx: Transaction, rows: ServerKeyRecord[]) => Promise<T>): Promise<T> => {
    let rows: ServerKeyRecord[] = [];
    const result = await store.transaction(async (tx) => {
      await tx.serverKeys.lockChain();
      const out = await fn(tx, await tx.serverKeys.list());
      rows = await tx.serverKeys.list();
      tx.publish('server-keys', { keys: rows.length });
      return out;
    });
    await adopt(rows);
    return result;
  };

  // First start on this database: the chain of the data folder's key files (an upgrade strands no device), else a
  // new root key. Under the lock, so two nodes starting at once make one chain.
  const legacy = await legacyChain(dataDir);
  await change(async (tx, rows) => {
    if (rows.length) return;
    const chain = legacy ?? [{ ...generateKeyPair(), createdAt: opts.now, retiredAt: null, endorsement: null }];
    for (const [position, k] of chain.entries()) {
      await tx.serverKeys.insert({ position, publicKey: k.publicKey, sealedPrivateKey: seal(k.publicKey, k.privateKeyPem), createdAt: k.createdAt || opts.now, retiredAt: k.retiredAt, endorsement: k.endorsement });
    }
    logger.info(legacy ? 'server command keys imported from the data folder into the database' : 'server command key created', { keys: chain.length });
  });
  // The key files are in the database now; private halves must not stay readable beside it (a retired key signs
  // nothing ever again). Files holding a key the database does not know are left alone, and said.
  if (legacy) {
    const known = new Set(keys.map((k) => k.publicKey));
    if (legacy.every((k) => known.has(k.publicKey))) {
      for (const f of LEGACY_FILES) await unlink(path.join(dataDir, f)).catch(() => undefined);
    } else {
      logger.warn('the data folder\'s server key files hold keys the database does not know; they are not used (the database\'s keys are). Delete them once you no longer need them', { files: LEGACY_FILES.map((f) => path.join(dataDir, f)) });
    }
  }

  return {
    signing: () => ({ publicKey: signingEntry().publicKey, privateKeyPem: signingEntry().privateKeyPem! }),
    newest: () => keys[keys.length - 1]!.publicKey,
    endorsements(pinned = []) {
      const upTo = keys.indexOf(signingEntry());
      let from = 0;
      for (let i = upTo; i >= 0; i--) if (pinned.includes(keys[i]!.publicKey)) { from = i; break; }
      return keys.slice(Math.max(1, from + 1), upTo + 1).map((k) => k.endorsement!).slice(-MAX_ENDORSEMENTS);
    },
    chainTo(publicKey) {
      const from = keys.indexOf(signingEntry());
      const to = keys.findIndex((k) => k.publicKey === publicKey);
      return to > from ? keys.slice(from + 1, to + 1).map((k) => k.endorsement!).slice(-MAX_PINNED_KEYS) : [];
    },
    active: () => active().map((k) => k.publicKey),
    activePair(publicKey) {
      const k = active().find((e) => e.publicKey === publicKey);
      return k?.privateKeyPem ? { publicKey: k.publicKey, privateKeyPem: k.privateKeyPem } : null;
    },
    list: () => keys.map(view),
    async rotate(at) {
      const pair = generateKeyPair();
      const entry = await change(async (tx, rows) => {
        const last = open(rows.slice(-1))[0]!;
        if (!last.privateKeyPem) throw new RmError('INTERNAL', 'the newest server key has no private half');
        const record: ServerKeyRecord = { position: last.position + 1, publicKey: pair.publicKey, sealedPrivateKey: seal(pair.publicKey, pair.privateKeyPem), createdAt: at, retiredAt: null, endorsement: endorseKey(pair.publicKey, last.publicKey, last.privateKeyPem) };
        await tx.serverKeys.insert(record);
        return record;
      });
      return view(keys.find((k) => k.publicKey === entry.publicKey)!);
    },
    assertRetirable: (publicKey) => checkRetirable(keys, publicKey),
    async retire(publicKey, at) {
      await change(async (tx, rows) => {
        checkRetirable(rows, publicKey); // against what is committed: another node may have retired it meanwhile
        await tx.serverKeys.retire(publicKey, at);
      });
      return { retired: publicKey, signing: signingEntry().publicKey };
    },
    reload: async () => adopt(await store.serverKeys.list()),
  };
}
