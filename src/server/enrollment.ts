// Whether an enrollment token may enroll one more device now: pure. Tokens are multi-use (one token for
// a whole MDM rollout), bounded by an expiry and an optional number of uses.
import type { StoreData } from './store.js';

type TokenRecord = StoreData['enrollmentTokens'][number];

export type EnrollmentDecision = { ok: true } | { ok: false; reason: string };

export function decideEnrollment(token: TokenRecord | undefined, now: number): EnrollmentDecision {
  if (!token) return { ok: false, reason: 'unknown enrollment token' };
  if (token.expiresAt !== null && now >= token.expiresAt) return { ok: false, reason: 'the enrollment token has expired' };
  if (token.maxUses !== null && token.uses >= token.maxUses) return { ok: false, reason: 'the enrollment token has no uses left' };
  return { ok: true };
}
