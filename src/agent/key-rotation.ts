// What a verified key.rotate may do to the pinned server keys (issue: rotation that cannot be turned against the
// device). Pure.
//
// The pins are one line of keys, oldest first, each newer one endorsed by its predecessor. A command does not say
// which pinned key signed it, and during an overlap a device may still pin a key that the server has retired and
// someone kept a copy of. So the powers of a key.rotate are bounded by what its signer and its endorsements prove:
// - a key is added only at the new end of the line: newKey must be pinned already, or be reached by verified
//   endorsements from the NEWEST pin (the same links as the chain in server.hello). A holder of an older pin can
//   sign an endorsement of its own key, but it starts from a key the line has moved past: a fork, refused;
// - a key is retired only by its own signature or a newer one, and only in favour of a newer key (retireKey older
//   than newKey): a holder of an older pin cannot make the device drop a key newer than its own;
// - newKey and retireKey differ, and the set left is never empty.
// - TLS pins (key.rotate {pins}) only from the newest pinned key, and never from an outdated rotation: a holder of a
//   retired key could otherwise replace the pin set with its own certificate's and keep the device from the real
//   server for good.
// A newKey that the endorsements do not connect to any pin is an outdated rotation (queued for a device that
// has since followed the chain past it in a handshake): nothing changes, and the ack says so.
import { followKeyChain, type Endorsement } from '../protocol/key-chain.js';
import { keyFingerprint } from '../protocol/sign.js';

export interface KeyRotation {
  newKey: string;
  retireKey?: string | undefined;
  endorsements?: readonly Endorsement[] | undefined;
  /** The pinned key whose signature the command carries (sign.ts signerOf); null: none of the pins. */
  signedBy: string | null;
  /** The command carries a TLS pin set (key.rotate {pins}). */
  pins?: boolean | undefined;
}

export type KeyRotationPlan =
  | { ok: true; keys: string[]; /** Set when nothing changes because newKey is not connected to the pins. */ stale?: { code: 'KEY_ROTATION_STALE'; message: string } }
  | { ok: false; reason: { code: 'KEY_ROTATION_INVALID'; message: string } };

export function planKeyRotation(current: readonly string[], rotation: KeyRotation): KeyRotationPlan {
  const { newKey, retireKey, signedBy } = rotation;
  const invalid = (message: string): KeyRotationPlan => ({ ok: false, reason: { code: 'KEY_ROTATION_INVALID', message } });
  const fp = keyFingerprint;
  if (retireKey !== undefined && retireKey === newKey) return invalid(`newKey and retireKey are the same key (${fp(newKey)})`);
  if (!signedBy || !current.includes(signedBy)) return invalid('it is not signed by a pinned server key');
  const newest = current[current.length - 1]!;
  // A pin set replaces the device's whole set, and a set without the real server's certificate locks the device
  // out of the one server that would drop a retired key: only the newest pinned key may announce one.
  if (rotation.pins && signedBy !== newest) return invalid(`its TLS pins are taken only from the newest pinned key ${fp(newest)}, and it is signed by the older ${fp(signedBy)} (a retired key?); nothing changed`);
  let keys = [...current];
  if (!current.includes(newKey)) {
    const chain = followKeyChain(current, newKey, rotation.endorsements);
    if (!chain.ok) {
      if (rotation.pins) return invalid(`newKey ${fp(newKey)} is not endorsed from a pinned key (${chain.message}): an outdated rotation, and its TLS pins are not taken from one; nothing changed`);
      return { ok: true, keys, stale: { code: 'KEY_ROTATION_STALE', message: `newKey ${fp(newKey)} is not endorsed from a pinned key (${chain.message}): an outdated rotation; nothing changed` } };
    }
    if (chain.from !== newest) {
      return invalid(`newKey ${fp(newKey)} is endorsed from ${fp(chain.from)}, which this device knows was succeeded by ${fp(newest)}: a fork of the key chain (a retired key?)`);
    }
    keys = [...keys, ...chain.added.filter((k) => !keys.includes(k))];
  }
  if (retireKey !== undefined && keys.includes(retireKey)) {
    const at = (k: string) => keys.indexOf(k);
    if (at(retireKey) > at(newKey)) return invalid(`retireKey ${fp(retireKey)} is newer than newKey ${fp(newKey)}`);
    if (at(retireKey) > at(signedBy)) return invalid(`retireKey ${fp(retireKey)} is newer than the key that signed the rotation (${fp(signedBy)}): a key retires only itself or older keys`);
    keys = keys.filter((k) => k !== retireKey);
  }
  if (!keys.length) return invalid('it would leave no pinned server key');
  return { ok: true, keys };
}
