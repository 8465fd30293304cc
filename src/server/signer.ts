// The server command key: created on first start (DIR/server-key, 0600, PEM) with its public half in
// DIR/server-key.pub (base64 raw, one line, what `rmagent enroll --server-key` pins); commands are signed with it.
import path from 'node:path';
import { generateKeyPair, publicKeyOfPrivate, signFrame, type KeyPair } from '../protocol/sign.js';
import { makeFrame, type BodyOf, type CommandType, type Frame } from '../protocol/frames.js';
import type { Endorsement } from '../protocol/key-chain.js';
import { readTextIfExists, writeFileAtomic } from '../system/files.js';

export interface CommandSigner {
  /** The key commands are signed with now (changes when a rotation is retired). */
  readonly publicKey: string;
  /** A signed command frame; `id` lets a queued command keep its id when it is finally sent. */
  sign<T extends CommandType>(type: T, body: BodyOf<T>, ts: number, id?: string): Frame<T>;
  /** Key chain links up to publicKey, for server.hello (empty before the first rotation); from the newest of `pinned` it knows. */
  endorsements(pinned?: readonly string[]): Endorsement[];
  /** Keys not retired, for server.hello (devices drop pinned keys not listed). */
  activeKeys(): string[];
  /** The signing key now: the handshake signs server.hello and welcome with the same one. */
  keyPair(): KeyPair;
}

export async function loadOrCreateServerKey(dataDir: string): Promise<KeyPair> {
  const keyFile = path.join(dataDir, 'server-key');
  const pem = await readTextIfExists(keyFile);
  const pair = pem ? { privateKeyPem: pem, publicKey: publicKeyOfPrivate(pem) } : generateKeyPair();
  if (!pem) await writeFileAtomic(keyFile, pair.privateKeyPem);
  // Rewritten each start so the .pub file always matches the key actually in use.
  await writeFileAtomic(`${keyFile}.pub`, `${pair.publicKey}\n`, 0o644);
  return pair;
}

/** A signer over a fixed key, or over a source asked at every signature (the keyring during rotations). */
export function createCommandSigner(source: KeyPair | (() => KeyPair), endorsements: (pinned?: readonly string[]) => Endorsement[] = () => [], activeKeys?: () => string[]): CommandSigner {
  const current = typeof source === 'function' ? source : () => source;
  return {
    get publicKey() {
      return current().publicKey;
    },
    sign(type, body, ts, id) {
      const frame = makeFrame(type, body, ts);
      return signFrame(id ? { ...frame, id } : frame, current().privateKeyPem);
    },
    endorsements,
    activeKeys: activeKeys ?? (() => [current().publicKey]),
    keyPair: current,
  };
}
