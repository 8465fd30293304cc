// Monotonic state (state-floor.ts): older desired revisions, lower policy versions and late service commands are
// refused; the server's explicit newer word (a higher revision) goes through; a new device id starts afresh.
import { describe, expect, it } from 'vitest';
import { makeFrame, type Frame } from '../../src/protocol/frames.js';
import { decideFloor, EMPTY_FLOOR, type StateFloor } from '../../src/agent/state-floor.js';
import type { Policy } from '../../src/protocol/model.js';

const mon = (version: number, id = 'pol-mon'): Policy => ({ id, name: 'Mon', service: 'monitoring', version, settings: {} });
const desired = (revision: number, version = 1, deviceId = 'dev-1') => makeFrame('desired', { deviceId, state: { revision, services: { monitoring: { policy: mon(version) } } } }) as Frame<'desired'>;
const assign = (version: number, revision?: number, id?: string) => makeFrame('policy.assign', { deviceId: 'dev-1', service: 'monitoring', policy: mon(version, id), ...(revision === undefined ? {} : { revision }) }) as Frame<'policy.assign'>;
const uninstall = (revision?: number) => makeFrame('service.uninstall', { deviceId: 'dev-1', service: 'monitoring', ...(revision === undefined ? {} : { revision }) }) as Frame<'service.uninstall'>;

function run(frames: Frame[], start: StateFloor = EMPTY_FLOOR) {
  let floor = start;
  return frames.map((f) => {
    const v = decideFloor(floor, f as Frame<'desired'>);
    if (v.ok) floor = v.next;
    return v.ok ? 'ok' : v.code;
  });
}

describe('decideFloor', () => {
  it('refuses an older desired revision (5 then 4); the same revision again is fine', () => {
    expect(run([desired(5), desired(4), desired(5), desired(6)])).toEqual(['ok', 'COMMAND_STALE', 'ok', 'ok']);
  });
  it('refuses a late service command issued for an older revision', () => {
    expect(run([desired(7, 3), assign(2, 6), uninstall(5), assign(4, 8), uninstall(8)])).toEqual(['ok', 'COMMAND_STALE', 'COMMAND_STALE', 'ok', 'ok']);
  });
  it('without a revision, a command may not lower the version of the policy in force (another policy is a change, not a downgrade)', () => {
    expect(run([desired(2, 5), assign(4), assign(6), assign(1, undefined, 'pol-other')])).toEqual(['ok', 'COMMAND_STALE', 'ok', 'ok']);
  });
  it('the same revision re-sent may not undo a later version; a newer revision may set any version', () => {
    expect(run([desired(3, 2), assign(3), desired(3, 2), desired(4, 1)])).toEqual(['ok', 'ok', 'COMMAND_STALE', 'ok']);
  });
  it('belongs to one device id: after a new enrollment revision 1 is fresh again', () => {
    expect(run([desired(9), desired(1, 1, 'dev-2')])).toEqual(['ok', 'ok']);
  });
});
