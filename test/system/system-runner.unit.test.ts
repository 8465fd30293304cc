// How a change to the machine leaves the agent's sandbox under systemd (src/system/system-runner.ts); the real
// transient unit is exercised by `npm run test:system` in a booted container.
import { describe, expect, it } from 'vitest';
import { systemdRunArgs, transientUnitName, transientUnitResult } from '../../src/system/system-runner.js';
import { updateInstallChange } from '../../src/system/packages.js';

describe('transient units for changes to the machine', () => {
  it('waits for the unit, collects it, writes its output to a file (no pipe to die with the agent), bounds it, no shell', () => {
    const change = updateInstallChange('apt', ['openssl', 'libssl3']);
    const unit = transientUnitName(change.purpose, 'ab12cd34');
    expect(unit).toBe('rmagent-patch-install-ab12cd34.service');
    const args = systemdRunArgs(change, unit, '/var/lib/rmagent/changes/x.log');
    expect(args.slice(0, 4)).toEqual(['--wait', '--collect', '--service-type=exec', `--unit=${unit}`]);
    expect(args).not.toContain('--pipe');
    const props = args.flatMap((a, i) => (args[i - 1] === '--property' ? [a] : []));
    expect(props).toEqual(expect.arrayContaining(['StandardOutput=file:/var/lib/rmagent/changes/x.log', 'StandardError=inherit', 'RuntimeMaxSec=7200', 'Nice=10', 'MemoryHigh=2G']));
    expect(args).toContain('DEBIAN_FRONTEND=noninteractive');
    const dashdash = args.indexOf('--');
    expect(args.slice(dashdash + 1)).toEqual(['apt-get', '-y', '-q', '-o', 'Dpkg::Options::=--force-confdef', '-o', 'Dpkg::Options::=--force-confold', 'install', '--only-upgrade', '--', 'openssl', 'libssl3']);
  });

  it('reads the change\'s own exit status from what systemd-run prints (its own exit code is only 0 or 1)', () => {
    expect(transientUnitResult(1, 'Running as unit: x.service\nFinished with result: exit-code\nMain processes terminated with: code=exited/status=7\n')).toEqual({ code: 7 });
    expect(transientUnitResult(0, 'Finished with result: success\nMain processes terminated with: code=exited/status=0\n')).toEqual({ code: 0 });
    expect(transientUnitResult(1, 'Finished with result: timeout\nMain processes terminated with: code=killed/status=TERM\n')).toEqual({ code: null, error: 'TIMEOUT' });
    expect(transientUnitResult(1, 'Failed to connect to bus: Host is down\n')).toMatchObject({ code: null, error: expect.stringContaining('Host is down') });
  });

  it('a purpose cannot smuggle characters into the unit name', () => {
    expect(transientUnitName('x/../y z;', '00')).toBe('rmagent-x____y_z_-00.service');
  });
});
