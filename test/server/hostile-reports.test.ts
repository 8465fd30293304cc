// A hostile device sends inventory, patches, backup and watchdog reports of the wrong shape (wrong types, arrays
// longer than any device has, markup in fields that are identifiers) through the real gateway. Each is stored
// flagged invalid and never becomes the device's latest of its kind: the device's API and the API of the other
// devices keep showing the last valid data.
import { describe, expect, it } from 'vitest';
import type { BodyOf } from '../../src/protocol/frames.js';
import { apiOf, enroll, newEnrollmentToken, sendReports, stoppedAfterEach } from './helpers.js';
import { backupData, inventoryData, patchesData } from './report-data.js';

const { started, track } = stoppedAfterEach();

const MARKUP = '<img src=x onerror="alert(1)">';
/** Malformed data of every checked service kind, each seq after `from`. */
function hostile(from: number): Array<BodyOf<'report'>> {
  const at = 1_700_000_100_000;
  const valid = inventoryData();
  const bad: Array<[BodyOf<'report'>['kind'], Record<string, unknown>]> = [
    ['inventory', { ...valid, inventory: { ...valid.inventory, software: MARKUP } }],
    ['inventory', { ...valid, inventory: { ...valid.inventory, hardware: { ...valid.inventory.hardware, disks: Array.from({ length: 5_000 }, () => ({})) } } }],
    ['inventory', { ...valid, inventory: { ...valid.inventory, hardware: { ...valid.inventory.hardware, system: { serial: { nested: MARKUP } } } } }],
    ['inventory', { full: false, collectedAt: at, changes: { added: 'all', removed: [], changed: [] }, counts: {} }],
    ['patches', { ...patchesData(), pending: [{ name: MARKUP, version: 5, severity: 'urgent' }] }],
    ['patches', { ...patchesData(), pending: Array.from({ length: 21_000 }, () => ({ name: 'a', version: '1', severity: 'low' })) }],
    ['patches', { event: 'install', manager: 'apt', result: 'succeeded', outputTail: 'x'.repeat(100_000) }],
    ['backup', { ...backupData(), snapshot: MARKUP, files: 'many' }],
    ['backup', { event: 'restore', result: 'failed', code: `BACKUP_${MARKUP}`, message: 42 }],
    ['watchdog', { event: 'exceeded', kind: 'disk', reason: MARKUP.repeat(100), restarts: -1 }],
  ];
  return bad.map(([kind, data], i) => ({ seq: from + i, kind, at, data }));
}

describe('report data checked per kind', () => {
  it('a malformed inventory, patches, backup or watchdog report is stored flagged invalid; the device keeps its last valid data and the others are untouched', async () => {
    const server = await started();
    const api = apiOf(server);
    const attacker = track(await enroll(server, await newEnrollmentToken(server), 'attacker'));
    const neighbour = track(await enroll(server, await newEnrollmentToken(server), 'neighbour'));
    await sendReports(attacker, [
      { seq: 1, kind: 'inventory', at: 1, data: inventoryData('GOOD-SERIAL') },
      { seq: 2, kind: 'patches', at: 2, data: patchesData() },
      { seq: 3, kind: 'backup', at: 3, data: backupData('s-good') },
      { seq: 4, kind: 'watchdog', at: 4, data: { event: 'backoff', delayMs: 60_000, restarts: 3 } },
    ]);
    await sendReports(neighbour, [{ seq: 1, kind: 'inventory', at: 1, data: inventoryData('NEIGHBOUR-SERIAL') }]);
    const attack = hostile(5);
    await sendReports(attacker, attack);

    // Every malformed report is kept (the agent must not resend it forever) and flagged.
    const { body: history } = await api('GET', `/devices/${attacker.deviceId}/reports?limit=500`);
    expect(history.lastSeq).toBe(4 + attack.length);
    const flagged = history.reports.filter((r: { invalid: string | null }) => r.invalid !== null).map((r: { seq: number }) => r.seq);
    expect(flagged).toEqual(attack.map((r) => r.seq));
    for (const r of history.reports.filter((x: { seq: number }) => x.seq <= 4)) expect(r.invalid).toBeNull();
    const reason = (seq: number) => history.reports.find((r: { seq: number }) => r.seq === seq).invalid as string;
    expect(reason(6)).toContain('inventory.hardware.disks');
    expect(reason(10)).toContain('pending');
    expect(reason(11)).toMatch(/outputTail|startedAt/);

    // The device's latest of each kind is still the last valid one.
    const device = await api('GET', `/devices/${attacker.deviceId}`);
    expect(device.status).toBe(200);
    expect(device.body.latest.inventory).toMatchObject({ seq: 1, data: { inventory: { hardware: { system: { serial: 'GOOD-SERIAL' } } } } });
    expect(device.body.latest.patches.seq).toBe(2);
    expect(device.body.latest.backup).toMatchObject({ seq: 3, data: { snapshot: 's-good' } });
    expect(device.body.latest.watchdog.seq).toBe(4);
    expect(JSON.stringify(device.body.latest)).not.toContain('onerror');

    // The neighbour and the fleet listing are untouched.
    const other = await api('GET', `/devices/${neighbour.deviceId}`);
    expect(other.body.latest.inventory.data.inventory.hardware.system.serial).toBe('NEIGHBOUR-SERIAL');
    expect((await api('GET', `/devices/${neighbour.deviceId}/reports`)).body.reports.map((r: { invalid: string | null }) => r.invalid)).toEqual([null]);
    expect((await api('GET', '/devices')).body.devices).toHaveLength(2);
  });
});
