// The server's command keys over time (DATA/server-keys.json, 0600): oldest first, each endorsed by its
// predecessor. Scheme: the server signs with the OLDEST ACTIVE key until it is retired, so during an overlap every
// device — up to date or not — verifies every command; after retire the next key signs, and a device that slept
// through the rotation follows the endorsement chain in hello. DATA/server-key(.pub) always hold the signing key.
import path from 'node:path';
import * as z from 'zod/mini';
import { PublicKeySchema, MAX_ENDORSEMENTS, MAX_PINNED_KEYS } from '../protocol/frames.js';
import { endorseKey, type Endorsement } from '../protocol/key-chain.js';
import { generateKeyPair, keyFingerprint, type KeyPair } from '../protocol/sign.js';
import { RmError } from '../protocol/errors.js';
import { readJsonFile, writeFileAtomic, writeJsonAtomic } from '../system/files.js';
import { loadOrCreateServerKey } from './signer.js';

const KeyEntrySchema = z.strictObject({
  publicKey: PublicKeySchema,
  /** Dropped at retirement: a retired key signs nothing ever again. */
  privateKeyPem: z.nullable(z.string()),
  createdAt: z.number(),
  retiredAt: z.nullable(z.number()),
  endorsement: z.nullable(z.strictObject({ key: PublicKeySchema, signedBy: PublicKeySchema, sig: z.string() })),
});
const KeyringFileSchema = z.strictObject({ v: z.literal(1), keys: z.array(KeyEntrySchema).check(z.minLength(1)) });
type KeyEntry = z.infer<typeof KeyEntrySchema>;

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
  list(): KeyView[];
  /** Adds a key endorsed by the newest one; the current ones stay active (overlap). */
  rotate(now: number): Promise<KeyView>;
  /** Throws API_INVALID unless `publicKey` is the signing key and a newer one is active. */
  assertRetirable(publicKey: string): void;
  /** Retires the signing key; the next one signs from now on. */
  retire(publicKey: string, now: number): Promise<{ retired: string; signing: string }>;
}

export async function loadKeyring(dataDir: string, now: number): Promise<Keyring> {
  const file = path.join(dataDir, 'server-keys.json');
  const read = await readJsonFile(file, KeyringFileSchema);
  if (read.status === 'invalid') throw new RmError('SERVER_STORE_CORRUPT', `${file}: ${read.reason}`);
  let keys: KeyEntry[];
  if (read.status === 'ok') keys = read.value.keys;
  else {
    // First start, or a data folder from before rotation existed: the single server-key becomes the chain's root.
    const first = await loadOrCreateServerKey(dataDir);
    keys = [{ publicKey: first.publicKey, privateKeyPem: first.privateKeyPem, createdAt: now, retiredAt: null, endorsement: null }];
  }
  const active = () => keys.filter((k) => k.retiredAt === null);
  const signingEntry = () => active()[0]!;
  const save = async () => {
    await writeJsonAtomic(file, { v: 1, keys });
    const s = signingEntry();
    await writeFileAtomic(path.join(dataDir, 'server-key'), s.privateKeyPem!);
    await writeFileAtomic(path.join(dataDir, 'server-key.pub'), `${s.publicKey}\n`, 0o644);
  };
  const view = (k: KeyEntry): KeyView => ({
    publicKey: k.publicKey,
    fingerprint: keyFingerprint(k.publicKey),
    state: k.retiredAt !== null ? 'retired' : k === signingEntry() ? 'signing' : 'active',
    createdAt: k.createdAt,
    retiredAt: k.retiredAt,
  });
  // Only the signing key can be retired, and only while a newer key is there to take over.
  const assertRetirable = (publicKey: string): void => {
    const current = signingEntry();
    if (publicKey !== current.publicKey) {
      const known = keys.find((k) => k.publicKey === publicKey);
      throw new RmError('API_INVALID', known ? `only the signing key ${keyFingerprint(current.publicKey)} can be retired now (${keyFingerprint(publicKey)} is ${view(known).state})` : 'unknown server key');
    }
    if (active().length < 2) throw new RmError('API_INVALID', 'rotate first: retiring the only active key would leave nothing to sign with');
  };
  await save();

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
    list: () => keys.map(view),
    async rotate(at) {
      const last = keys[keys.length - 1]!;
      if (!last.privateKeyPem) throw new RmError('INTERNAL', 'the newest server key has no private half');
      const pair = generateKeyPair();
      const entry: KeyEntry = { ...pair, createdAt: at, retiredAt: null, endorsement: endorseKey(pair.publicKey, last.publicKey, last.privateKeyPem) };
      keys.push(entry);
      await save();
      return view(entry);
    },
    assertRetirable,
    async retire(publicKey, at) {
      assertRetirable(publicKey);
      const current = signingEntry();
      current.retiredAt = at;
      current.privateKeyPem = null;
      await save();
      return { retired: publicKey, signing: signingEntry().publicKey };
    },
  };
}
