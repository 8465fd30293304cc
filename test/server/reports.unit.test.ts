// The server's pure decisions: what a report means, whether a token may enroll, the desired state, what an ack does
// to a command, the rate limiter and webhook signatures.
import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { decideReport } from '../../src/server/reports.js';
import { decideEnrollment } from '../../src/server/enrollment.js';
import { desiredStateOf, deviceServices } from '../../src/server/desired.js';
import { ackTransition } from '../../src/server/commands.js';
import { fullBucket, take } from '../../src/server/rate-limit.js';
import { signWebhook, webhookBackoffMs } from '../../src/server/webhooks.js';
import type { PolicyRecord } from '../../src/server/store/store.js';
import type { ReportKind } from '../../src/protocol/frames.js';
import { MAX_SOFTWARE_ITEMS } from '../../src/protocol/report-data.js';
import { backupData, inventoryData, patchesData } from './report-data.js';

describe('decideReport', () => {
  it('stores each sequence number once, whatever order and repetition they arrive in', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 1, max: 30 }), { maxLength: 60 }), (seqs) => {
        let lastSeq = 0;
        const stored: number[] = [];
        for (const seq of seqs) {
          const d = decideReport(lastSeq, { seq, kind: 'inventory', at: seq, data: {} });
          if (d.stored) {
            stored.push(seq);
            lastSeq = seq;
          }
        }
        return stored.every((s, i) => i === 0 || s > stored[i - 1]!) && lastSeq === (stored.at(-1) ?? 0);
      }),
    );
  });

  it('keeps a report whose data does not match its kind, flagged and without effect, so the agent stops resending it', () => {
    expect(decideReport(0, { seq: 1, kind: 'service', at: 1, data: { name: 'monitoring' } })).toMatchObject({ stored: true, invalid: expect.stringContaining('service'), effect: null });
  });

  it('checks inventory, patches, backup and watchdog data too: what the services send passes, other shapes and overlong lists are flagged', () => {
    const ok = (kind: ReportKind, data: Record<string, unknown>) => decideReport(0, { seq: 1, kind, at: 1, data });
    expect(ok('inventory', inventoryData())).toMatchObject({ invalid: null });
    expect(ok('inventory', { full: false, collectedAt: 1, changes: { added: [{ key: 'software:dpkg:vim', to: { name: 'vim', version: '9', source: 'dpkg' } }], removed: [{ key: 'disk:/dev/sdb', from: { device: '/dev/sdb', sizeBytes: 1 } }], changed: [{ key: 'os:release', from: '12.1', to: '12.2' }] }, counts: { added: 1, removed: 1, changed: 1, total: 3 } })).toMatchObject({ invalid: null });
    expect(ok('patches', patchesData())).toMatchObject({ invalid: null });
    expect(ok('patches', { event: 'install', manager: 'apt', startedAt: 1, durationMs: 5, requested: 'all', result: 'failed', exitCode: null, error: 'TIMEOUT', outputTail: '' })).toMatchObject({ invalid: null });
    expect(ok('backup', backupData())).toMatchObject({ invalid: null });
    expect(ok('backup', { event: 'restore', result: 'failed', code: 'CHANGES_NOT_ALLOWED', message: 'no opt-in' })).toMatchObject({ invalid: null });
    expect(ok('watchdog', { event: 'exceeded', kind: 'memory', reason: 'memory 300 MB is above the budget of 256 MB', restarts: 1 })).toMatchObject({ invalid: null });

    const flagged = (kind: ReportKind, data: Record<string, unknown>) => expect(ok(kind, data)).toMatchObject({ stored: true, invalid: expect.stringContaining(kind), effect: null });
    flagged('inventory', { hw: 1 });
    flagged('inventory', { ...inventoryData(), counts: { software: -1, omitted: 0 } });
    flagged('inventory', inventoryData('x'.repeat(4097)));
    flagged('inventory', { ...inventoryData(), inventory: { ...inventoryData().inventory, software: Array.from({ length: MAX_SOFTWARE_ITEMS + 1 }, () => ({ name: 'a', version: '1', source: 'dpkg' })) } });
    flagged('inventory', { ...inventoryData(), inventory: { ...inventoryData().inventory, os: Object.fromEntries(Array.from({ length: 65 }, (_, i) => [`k${i}`, i])) } });
    flagged('patches', { ...patchesData(), pending: [{ name: 'a', version: '1', severity: 'urgent' }] });
    flagged('patches', { ...patchesData(), extra: true });
    flagged('backup', { ...backupData(), snapshot: '<script>' });
    flagged('backup', { event: 'snapshot', result: 'failed', code: '', message: 'x' });
    flagged('watchdog', { event: 'exceeded', kind: 'memory', reason: 'x'.repeat(513), restarts: 1 });
  });

  it('turns alert and service reports into their effect', () => {
    const raised = decideReport(0, { seq: 1, kind: 'alert.raised', at: 1, data: { key: 'cpu', service: 'monitoring', check: 'cpu', severity: 'warning', message: 'hot', value: 95 } });
    expect(raised).toMatchObject({ stored: true, invalid: null, effect: { kind: 'alert.raised', alert: { key: 'cpu', value: 95 } } });
    expect(decideReport(1, { seq: 2, kind: 'alert.cleared', at: 2, data: { key: 'cpu', service: 'monitoring' } })).toMatchObject({ effect: { kind: 'alert.cleared', key: 'cpu' } });
    expect(decideReport(2, { seq: 3, kind: 'inventory', at: 3, data: { a: 1 } })).toMatchObject({ stored: true, effect: null });
    expect(decideReport(3, { seq: 3, kind: 'inventory', at: 3, data: {} })).toEqual({ stored: false, reason: 'duplicate' });
  });
});

describe('decideEnrollment', () => {
  const token = { expiresAt: 1000, maxUses: 2, uses: 0, revokedAt: null };
  it('accepts a live token with uses left and refuses unknown, revoked, expired and used-up ones', () => {
    expect(decideEnrollment(token, 999)).toEqual({ ok: true });
    expect(decideEnrollment(undefined, 0)).toMatchObject({ ok: false, reason: expect.stringContaining('unknown') });
    expect(decideEnrollment({ ...token, revokedAt: 5 }, 0)).toMatchObject({ ok: false, reason: expect.stringContaining('revoked') });
    expect(decideEnrollment(token, 1000)).toMatchObject({ ok: false, reason: expect.stringContaining('expired') });
    expect(decideEnrollment({ ...token, uses: 2 }, 0)).toMatchObject({ ok: false, reason: expect.stringContaining('no uses') });
    expect(decideEnrollment({ ...token, maxUses: null, uses: 10_000 }, 0)).toEqual({ ok: true });
  });
});

describe('desired state and service views', () => {
  const policy: PolicyRecord = { id: 'pol-1', name: 'p', service: 'monitoring', version: 3, settings: { checks: [] }, createdBy: 'a', createdAt: 0, updatedAt: 0 };
  const policies = new Map([[policy.id, policy]]);
  it('lists each activated service of the device with its current policy version and who activated it', () => {
    const activations = [
      { deviceId: 'dev-1', service: 'monitoring' as const, policyId: 'pol-1', activatedBy: 'acct-a', at: 0 },
      { deviceId: 'dev-2', service: 'backup' as const, policyId: 'pol-1', activatedBy: 'acct-a', at: 0 },
    ];
    expect(desiredStateOf({ id: 'dev-1', revision: 4 }, activations, policies)).toEqual({ revision: 4, services: { monitoring: { policy: { id: 'pol-1', name: 'p', service: 'monitoring', version: 3, settings: { checks: [] } }, activatedBy: 'acct-a' } } });
  });

  it('shows pending until the device reports, and applied only for the current version', () => {
    const activation = { deviceId: 'dev-1', service: 'monitoring' as const, policyId: 'pol-1', activatedBy: 'acct-a', at: 7 };
    expect(deviceServices([activation], [], policies)[0]).toMatchObject({ phase: 'pending', applied: false, activatedAt: 7 });
    const state = (version: number) => ({ name: 'monitoring' as const, phase: 'running' as const, policy: { id: 'pol-1', version, applied: true }, reason: null, attempts: 0, since: 1 });
    expect(deviceServices([activation], [state(2)], policies)[0]).toMatchObject({ phase: 'running', applied: false, appliedPolicyVersion: 2 });
    expect(deviceServices([activation], [state(3)], policies)[0]).toMatchObject({ applied: true });
  });
});

describe('ackTransition', () => {
  it('an accepted ack never undoes a final outcome, and the late truth replaces interrupted', () => {
    expect(ackTransition({ commandId: 'c', status: 'accepted' }).from).toEqual(['queued', 'sent']);
    expect(ackTransition({ commandId: 'c', status: 'done' }).from).toContain('interrupted');
    expect(ackTransition({ commandId: 'c', status: 'failed', reason: { code: 'X', message: 'm' } }).to).toEqual({ status: 'failed', reason: { code: 'X', message: 'm' } });
  });

  it('a redelivered command the agent had already taken (COMMAND_REPLAYED) ends as interrupted, not rejected', () => {
    const t = ackTransition({ commandId: 'c', status: 'rejected', reason: { code: 'COMMAND_REPLAYED', message: 'seen' } });
    expect(t).toMatchObject({ from: ['sent'], to: { status: 'interrupted', reason: { code: 'COMMAND_INTERRUPTED' } } });
    expect(ackTransition({ commandId: 'c', status: 'rejected', reason: { code: 'COMMAND_FORGED', message: 'x' } }).to.status).toBe('rejected');
  });
});

describe('rate limiter', () => {
  it('lets a burst through, then asks to wait exactly long enough to pay the debt', () => {
    const rate = { perSec: 100, burst: 1000 };
    const bucket = fullBucket(rate, 0);
    expect(take(bucket, rate, 1000, 0)).toBe(0);
    expect(take(bucket, rate, 200, 0)).toBe(2000);
    expect(take(bucket, rate, 0, 2000)).toBe(0);
  });

  it('never lets more than burst + rate × time through', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.integer({ min: 0, max: 500 }), fc.integer({ min: 1, max: 300 })), { maxLength: 50 }), (steps) => {
        const rate = { perSec: 100, burst: 400 };
        const bucket = fullBucket(rate, 0);
        let now = 0;
        let passed = 0;
        for (const [dt, cost] of steps) {
          now += dt;
          const wait = take(bucket, rate, cost, now);
          passed += cost;
          now += wait; // a well-behaved sender waits as told
        }
        return passed <= rate.burst + (now / 1000) * rate.perSec + 300;
      }),
    );
  });
});

describe('webhook signatures', () => {
  it('is the HMAC-SHA256 of "timestamp.body" with the secret, as docs/server-api.md tells receivers to check', () => {
    const expected = createHmac('sha256', 'secret-0123456789').update('1700000000.{"a":1}').digest('hex');
    expect(signWebhook('secret-0123456789', 1_700_000_000, '{"a":1}')).toBe(`sha256=${expected}`);
  });

  it('backs off from 10 s doubling to at most an hour', () => {
    expect([1, 2, 3].map(webhookBackoffMs)).toEqual([10_000, 20_000, 40_000]);
    expect(webhookBackoffMs(30)).toBe(3_600_000);
  });
});
