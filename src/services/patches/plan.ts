// Whether updates may be installed now (pure). All must hold: the policy allows it, the device owner
// opted in locally, a maintenance window is set and open, no install ran yet in this window, and
// something is pending.
import { inWindow } from '../budget.js';
import type { PatchesPolicy } from '../../protocol/policies/patches.js';
import type { PendingUpdate } from './updates-parse.js';

export type InstallDecision =
  | { install: true; names: string[] }
  | { install: false; reason: 'policy-disabled' | 'not-opted-in' | 'no-window' | 'outside-window' | 'already-ran-in-window' | 'nothing-pending' };

const SECURITY = new Set(['critical', 'important', 'security']);

export function decideInstall(input: {
  policy: PatchesPolicy;
  optedIn: boolean;
  now: Date;
  pending: readonly PendingUpdate[];
  lastInstallAt: number | null;
}): InstallDecision {
  const { policy, now } = input;
  if (!policy.autoInstall) return { install: false, reason: 'policy-disabled' };
  if (!input.optedIn) return { install: false, reason: 'not-opted-in' };
  if (!policy.window) return { install: false, reason: 'no-window' };
  if (!inWindow(policy.window, now)) return { install: false, reason: 'outside-window' };
  // One run per window opening: a failed run is reported, not retried in a loop.
  if (input.lastInstallAt !== null && now.getTime() - input.lastInstallAt < policy.window.durationMin * 60_000) return { install: false, reason: 'already-ran-in-window' };
  const chosen = policy.securityOnly ? input.pending.filter((u) => SECURITY.has(u.severity)) : input.pending;
  if (chosen.length === 0) return { install: false, reason: 'nothing-pending' };
  return { install: true, names: policy.securityOnly ? chosen.map((u) => u.name) : [] };
}
