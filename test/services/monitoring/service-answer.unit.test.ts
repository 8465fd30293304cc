// issue 21: a service manager that cannot answer (no systemd as PID 1, missing, refusing) is "cannot check",
// never "not active"; a service that is down is.
import { describe, expect, it } from 'vitest';
import { readServiceAnswer, serviceQuery } from '../../../src/services/monitoring/service-answer.js';

const r = (code: number | null, stdout: string, stderr = '', error?: string) => ({ code, stdout, stderr, ...(error ? { error } : {}) });

describe('service manager answers', () => {
  it('asks systemd with -- before the unit name', () => {
    expect(serviceQuery('linux', 'cron')).toEqual({ command: 'systemctl', args: ['show', '--property=LoadState,ActiveState,SubState', '--', 'cron'] });
    expect(serviceQuery('darwin', 'com.x').args).toEqual(['print', 'system/com.x']);
    expect(serviceQuery('win32', 'Spooler').args).toEqual(['query', 'Spooler']);
  });

  it('systemd: active, down, failed, not installed', () => {
    expect(readServiceAnswer('linux', r(0, 'LoadState=loaded\nActiveState=active\nSubState=running\n'))).toEqual({ kind: 'active' });
    expect(readServiceAnswer('linux', r(0, 'LoadState=loaded\nActiveState=reloading\nSubState=reload\n'))).toEqual({ kind: 'active' });
    expect(readServiceAnswer('linux', r(0, 'LoadState=loaded\nActiveState=inactive\nSubState=dead\n'))).toEqual({ kind: 'inactive', state: 'inactive, dead' });
    expect(readServiceAnswer('linux', r(0, 'LoadState=loaded\nActiveState=failed\nSubState=failed\n'))).toEqual({ kind: 'inactive', state: 'failed' });
    expect(readServiceAnswer('linux', r(0, 'LoadState=masked\nActiveState=inactive\nSubState=dead\n'))).toEqual({ kind: 'inactive', state: 'inactive, dead, masked' });
    expect(readServiceAnswer('linux', r(0, 'LoadState=not-found\nActiveState=inactive\nSubState=dead\n'))).toMatchObject({ kind: 'inactive', state: expect.stringContaining('not installed') });
  });

  it('systemd: no systemd as PID 1, no bus, no systemctl, no permission, no answer in time', () => {
    const noSystemd = readServiceAnswer('linux', r(1, '', "System has not been booted with systemd as init system (PID 1). Can't operate.\nFailed to connect to bus: Host is down\n"));
    expect(noSystemd).toEqual({ kind: 'unavailable', code: 'CHECK_SOURCE_UNAVAILABLE', reason: "systemctl cannot answer: System has not been booted with systemd as init system (PID 1). Can't operate." });
    expect(readServiceAnswer('linux', r(1, '', 'Failed to connect to bus: No such file or directory\n'))).toMatchObject({ kind: 'unavailable', code: 'CHECK_SOURCE_UNAVAILABLE' });
    expect(readServiceAnswer('linux', r(null, '', '', 'ENOENT'))).toMatchObject({ kind: 'unavailable', code: 'CHECK_SOURCE_UNAVAILABLE' });
    expect(readServiceAnswer('linux', r(1, '', 'Failed to get properties: Access denied\n'))).toMatchObject({ kind: 'unavailable', code: 'CHECK_ACCESS_DENIED' });
    expect(readServiceAnswer('linux', r(null, '', '', 'TIMEOUT'))).toMatchObject({ kind: 'unavailable', code: 'CHECK_TIMED_OUT' });
    // An exit code alone is never read as "inactive" (it was: any failing exit meant inactive).
    expect(readServiceAnswer('linux', r(3, ''))).toMatchObject({ kind: 'unavailable' });
  });

  it('launchd and the Windows service manager', () => {
    expect(readServiceAnswer('darwin', r(0, 'system/com.x = {\n\tstate = running\n}'))).toEqual({ kind: 'active' });
    expect(readServiceAnswer('darwin', r(0, 'system/com.x = {\n\tstate = not running\n}'))).toEqual({ kind: 'inactive', state: 'not running' });
    expect(readServiceAnswer('darwin', r(113, '', 'Could not find service "com.x" in domain for system'))).toEqual({ kind: 'inactive', state: 'not loaded' });
    expect(readServiceAnswer('darwin', r(1, '', 'Operation not permitted'))).toMatchObject({ kind: 'unavailable', code: 'CHECK_ACCESS_DENIED' });
    expect(readServiceAnswer('win32', r(0, 'SERVICE_NAME: x\n        STATE              : 4  RUNNING\n'))).toEqual({ kind: 'active' });
    expect(readServiceAnswer('win32', r(1, '        STATE              : 1  STOPPED\n'))).toEqual({ kind: 'inactive', state: 'stopped' });
    expect(readServiceAnswer('win32', r(1060, '[SC] EnumQueryServicesStatus:OpenService FAILED 1060:\n\nThe specified service does not exist as an installed service.\n'))).toEqual({ kind: 'inactive', state: 'not installed' });
    expect(readServiceAnswer('win32', r(5, '[SC] OpenService FAILED 5:\n\nAccess is denied.\n'))).toMatchObject({ kind: 'unavailable', code: 'CHECK_ACCESS_DENIED' });
  });
});
