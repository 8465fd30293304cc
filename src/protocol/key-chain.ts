// Server command key rotation: each new key is endorsed (signed) by its predecessor, and a device that pins an
// older key follows the chain to the key the server presents now. Pure, except for the Ed25519 maths.
import { signBytes, verifyBytes } from './sign.js';
import type { BodyOf } from './frames.js';

export type Endorsement = NonNullable<BodyOf<'server.hello'>['endorsements']>[number];

/** What a predecessor key signs to endorse its successor (domain-separated from frames and auth proofs). */
export function endorsementBytes(key: string, signedBy: string): Buffer {
  return Buffer.from(`rmagent-key-endorse-v1:${signedBy}:${key}`, 'utf8');
}

export function endorseKey(key: string, signedBy: string, signerPrivateKeyPem: string): Endorsement {
  return { key, signedBy, sig: signBytes(signerPrivateKeyPem, endorsementBytes(key, signedBy)) };
}

export type ChainVerdict =
  | { ok: true; /** Keys newly reached, oldest first, ending with the presented key; empty when it was pinned. */ added: string[]; /** The pinned key the path starts from (the presented key when it is pinned). */ from: string }
  | { ok: false; message: string };

/**
 * Decides whether `presented` may be trusted by a device that pins `pinned`: either it is pinned, or a path of
 * endorsements leads from a pinned key to it with every link's signature verified. Unpinned devices (no keys)
 * trust on first use elsewhere; here they get `ok` with nothing added.
 */
export function followKeyChain(pinned: readonly string[], presented: string, endorsements: readonly Endorsement[] = []): ChainVerdict {
  if (!pinned.length || pinned.includes(presented)) return { ok: true, added: [], from: presented };
  const path: string[] = [];
  const visited = new Set<string>();
  let current = presented;
  // Walks back from the presented key; each key is visited once, so the loop ends within endorsements.length steps.
  while (!pinned.includes(current)) {
    if (visited.has(current)) return { ok: false, message: 'the key endorsements form a cycle' };
    visited.add(current);
    const links = endorsements.filter((e) => e.key === current && verifyBytes(e.signedBy, endorsementBytes(e.key, e.signedBy), e.sig));
    const link = links.find((e) => pinned.includes(e.signedBy)) ?? links[0];
    if (!link) return { ok: false, message: path.length ? 'the key endorsements do not reach a pinned key' : 'the presented key is neither pinned nor endorsed' };
    path.unshift(current);
    current = link.signedBy;
  }
  return { ok: true, added: path, from: current };
}
