// Whether an enrollment token may enroll one more device now: pure. Tokens are bounded by an expiry and a number
// of uses (one by default; an MDM rollout asks for more), and can be revoked.
import type { EnrollmentTokenRecord } from './store/store.js';

type TokenRecord = Pick<EnrollmentTokenRecord, 'expiresAt' | 'maxUses' | 'uses' | 'revokedAt'>;

export type EnrollmentDecision = { ok: true } | { ok: false; reason: string };

export function decideEnrollment(token: TokenRecord | undefined, now: number): EnrollmentDecision {
  if (!token) return { ok: false, reason: 'unknown enrollment token' };
  if (token.revokedAt !== null) return { ok: false, reason: 'the enrollment token was revoked' };
  if (token.expiresAt !== null && now >= token.expiresAt) return { ok: false, reason: 'the enrollment token has expired' };
  if (token.maxUses !== null && token.uses >= token.maxUses) return { ok: false, reason: 'the enrollment token has no uses left' };
  return { ok: true };
}
