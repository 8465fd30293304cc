// What a verified key.rotate may do to the pinned server keys (issue: rotation that cannot be turned against the
// device). Pure.
//
// - newKey and retireKey differ: "add K, retire K" is not a rotation, and applied in two steps it empties the set;
// - the set left is never empty: an enrolled device with no pinned key would have nothing to check commands with
//   (and must never fall back to trusting the first key it is shown).
import { keyFingerprint } from '../protocol/sign.js';

export type KeyRotationPlan = { ok: true; keys: string[] } | { ok: false; reason: { code: 'KEY_ROTATION_INVALID'; message: string } };

export function planKeyRotation(current: readonly string[], newKey: string, retireKey?: string): KeyRotationPlan {
  const invalid = (message: string): KeyRotationPlan => ({ ok: false, reason: { code: 'KEY_ROTATION_INVALID', message } });
  if (retireKey !== undefined && retireKey === newKey) return invalid(`newKey and retireKey are the same key (${keyFingerprint(newKey)})`);
  const keys = [...new Set([...current, newKey])].filter((k) => k !== retireKey);
  if (!keys.length) return invalid('it would leave no pinned server key');
  return { ok: true, keys };
}
