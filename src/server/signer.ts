// Signs commands with the server command key (keyring.ts keeps the keys; DATA/server-key.pub holds the signing
// key's public half, base64 raw, what `rmagent enroll --server-key` pins).
import { signFrame, type KeyPair } from '../protocol/sign.js';
import { makeFrame, type BodyOf, type CommandType, type Frame } from '../protocol/frames.js';
import type { Endorsement } from '../protocol/key-chain.js';

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

/**
 * A signer over a fixed key, or over a source asked at every signature (the keyring during rotations).
 * `keyFor` gives an active key's pair: a key.rotate carrying TLS pins is signed with its newKey (the newest key),
 * since a device takes pins only from the newest key it pins (src/agent/key-rotation.ts).
 */
export function createCommandSigner(source: KeyPair | (() => KeyPair), endorsements: (pinned?: readonly string[]) => Endorsement[] = () => [], activeKeys?: () => string[], keyFor?: (publicKey: string) => KeyPair | null): CommandSigner {
  const current = typeof source === 'function' ? source : () => source;
  return {
    get publicKey() {
      return current().publicKey;
    },
    sign(type, body, ts, id) {
      const frame = makeFrame(type, body, ts);
      const rotate = type === 'key.rotate' ? (body as BodyOf<'key.rotate'>) : null;
      const pair = (rotate?.pins && keyFor?.(rotate.newKey)) || current();
      return signFrame(id ? { ...frame, id } : frame, pair.privateKeyPem);
    },
    endorsements,
    activeKeys: activeKeys ?? (() => [current().publicKey]),
    keyPair: current,
  };
}
