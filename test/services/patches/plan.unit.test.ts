import { describe, expect, it } from 'vitest';
import { decideInstall } from '../../../src/services/patches/plan.js';
import { patchesPolicySchema } from '../../../src/protocol/policies/patches.js';
import type { PendingUpdate } from '../../../src/services/patches/updates-parse.js';

const pending: PendingUpdate[] = [
  { name: 'libssl3', version: '3.0.17', severity: 'security' },
  { name: 'tzdata', version: '2024b', severity: 'unspecified' },
];
const policy = patchesPolicySchema.parse({ autoInstall: true, window: { days: ['tue'], start: '02:00', durationMin: 60 } });
const inside = new Date(2026, 10, 24, 2, 30); // Tuesday 02:30 local
const base = { policy, optedIn: true, now: inside, pending, lastInstallAt: null };

describe('decideInstall', () => {
  it('installs everything inside the window when the policy and the device allow it', () => {
    expect(decideInstall(base)).toEqual({ install: true, names: [] });
  });

  it('each condition alone blocks the install, with its reason', () => {
    expect(decideInstall({ ...base, policy: { ...policy, autoInstall: false } })).toEqual({ install: false, reason: 'policy-disabled' });
    expect(decideInstall({ ...base, optedIn: false })).toEqual({ install: false, reason: 'not-opted-in' });
    expect(decideInstall({ ...base, policy: { ...policy, window: null } })).toEqual({ install: false, reason: 'no-window' });
    expect(decideInstall({ ...base, now: new Date(2026, 10, 24, 3, 0) })).toEqual({ install: false, reason: 'outside-window' });
    expect(decideInstall({ ...base, lastInstallAt: inside.getTime() - 10 * 60_000 })).toEqual({ install: false, reason: 'already-ran-in-window' });
    expect(decideInstall({ ...base, pending: [] })).toEqual({ install: false, reason: 'nothing-pending' });
  });

  it('securityOnly names only the security updates', () => {
    expect(decideInstall({ ...base, policy: { ...policy, securityOnly: true } })).toEqual({ install: true, names: ['libssl3'] });
    expect(decideInstall({ ...base, policy: { ...policy, securityOnly: true }, pending: [pending[1]!] })).toEqual({ install: false, reason: 'nothing-pending' });
  });

  it('the default policy never installs', () => {
    expect(decideInstall({ ...base, policy: patchesPolicySchema.parse({}) })).toEqual({ install: false, reason: 'policy-disabled' });
  });
});
