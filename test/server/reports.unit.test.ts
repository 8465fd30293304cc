// What reports change in the server's state, and enrollment-token and policy-settings decisions.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { applyReport } from '../../src/server/reports.js';
import { decideEnrollment } from '../../src/server/enrollment.js';
import { desiredStateOf } from '../../src/server/desired.js';
import { emptyStoreData, type DeviceRecord, type StoreData } from '../../src/server/store.js';

function fleet(): { data: StoreData; device: DeviceRecord } {
  const data = emptyStoreData();
  const device: DeviceRecord = {
    id: 'dev-1',
    publicKey: 'k',
    facts: { hostname: 'pc', platform: 'linux', arch: 'x64', osRelease: '6', agentVersion: '0.1.0', alias: null, teamviewer: null },
    enrolledAt: 0,
    lastSeen: null,
    lastSeq: 0,
    revision: 1,
    services: {},
    latest: {},
  };
  data.devices.push(device);
  return { data, device };
}
let n = 0;
const ids = () => `alert-${++n}`;

describe('applyReport', () => {
  it('stores each sequence number once, whatever order and repetition they arrive in', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 1, max: 30 }), { maxLength: 60 }), (seqs) => {
        const { data, device } = fleet();
        for (const seq of seqs) applyReport(data, device, { seq, kind: 'inventory', at: seq, data: {} }, 0, ids);
        const stored = (data.reports['dev-1'] ?? []).map((r) => r.seq);
        // stored is strictly increasing, and lastSeq is its last element
        return stored.every((s, i) => i === 0 || s > stored[i - 1]!) && device.lastSeq === (stored.at(-1) ?? 0);
      }),
    );
  });

  it('keeps a report whose data does not match its kind, flagged and not applied, so the agent stops resending it', () => {
    const { data, device } = fleet();
    const outcome = applyReport(data, device, { seq: 1, kind: 'service', at: 1, data: { name: 'monitoring' } }, 5, ids);
    expect(outcome).toMatchObject({ stored: true, invalid: expect.stringContaining('service') });
    expect(device.lastSeq).toBe(1);
    expect(device.services).toEqual({});
  });

  it('raises one open alert per key, updates it while open, and clears it', () => {
    const { data, device } = fleet();
    const raised = (seq: number, value: number) => ({ seq, kind: 'alert.raised' as const, at: seq, data: { key: 'cpu', service: 'monitoring', check: 'cpu', severity: 'warning', message: 'hot', value } });
    applyReport(data, device, raised(1, 95), 0, ids);
    applyReport(data, device, raised(2, 99), 0, ids);
    expect(data.alerts).toHaveLength(1);
    expect(data.alerts[0]!.value).toBe(99);
    applyReport(data, device, { seq: 3, kind: 'alert.cleared', at: 3, data: { key: 'cpu', service: 'monitoring' } }, 0, ids);
    expect(data.alerts[0]!.clearedAt).toBe(3);
    applyReport(data, device, raised(4, 97), 0, ids);
    expect(data.alerts).toHaveLength(2);
  });
});

describe('decideEnrollment', () => {
  const token = { id: 'enr-1', tokenHash: 'h', expiresAt: 1000, maxUses: 2, uses: 0, createdBy: 'acct-owner', createdAt: 0 };
  it('accepts a live token with uses left and refuses unknown, expired and used-up ones', () => {
    expect(decideEnrollment(token, 999)).toEqual({ ok: true });
    expect(decideEnrollment(undefined, 0)).toMatchObject({ ok: false, reason: expect.stringContaining('unknown') });
    expect(decideEnrollment(token, 1000)).toMatchObject({ ok: false, reason: expect.stringContaining('expired') });
    expect(decideEnrollment({ ...token, uses: 2 }, 0)).toMatchObject({ ok: false, reason: expect.stringContaining('no uses') });
    expect(decideEnrollment({ ...token, maxUses: null, uses: 10_000 }, 0)).toEqual({ ok: true });
  });
});

describe('desiredStateOf', () => {
  it('lists each activated service with its current policy version and who activated it', () => {
    const { data, device } = fleet();
    data.policies.push({ id: 'pol-1', name: 'p', service: 'monitoring', version: 3, settings: { checks: [] }, createdBy: 'a', updatedAt: 0 });
    data.activations.push({ deviceId: 'dev-1', service: 'monitoring', policyId: 'pol-1', activatedBy: 'acct-a', at: 0 });
    data.activations.push({ deviceId: 'dev-2', service: 'backup', policyId: 'pol-1', activatedBy: 'acct-a', at: 0 });
    expect(desiredStateOf(data, device)).toEqual({ revision: 1, services: { monitoring: { policy: { id: 'pol-1', name: 'p', service: 'monitoring', version: 3, settings: { checks: [] } }, activatedBy: 'acct-a' } } });
  });
});
