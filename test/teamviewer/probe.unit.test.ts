import { describe, expect, it } from 'vitest';
import { ABSENT } from '../../src/teamviewer/host-files.js';
import { fullDetectionReason, linuxFingerprint, macFingerprint, type LinuxProbeObservations } from '../../src/teamviewer/probe.js';

const DAY = 24 * 3600_000;
const running = (): LinuxProbeObservations => ({
  stamps: {
    '/opt/teamviewer/tv_bin/teamviewerd': '11:53:1700000000000:33261',
    '/opt/teamviewer/config/global.conf': '12:30:1700000000000:33152',
    '/etc/teamviewer/global.conf': ABSENT,
    '/var/lib/dpkg/status': '13:900:1700000000000:33188',
    '/var/lib/rpm/rpmdb.sqlite': ABSENT,
  },
  config: { path: '/opt/teamviewer/config/global.conf', read: { status: 'ok', text: '[int32] ClientID = 1234567890\n[int32] LastSeen = 1\n' } },
  pidFile: { status: 'ok', text: '4321\n' },
  comm: { status: 'ok', text: 'teamviewerd\n' },
});

describe('fullDetectionReason', () => {
  const last = { fingerprint: 'a', at: 1_000 };
  it('skips only when the fingerprint is known, unchanged and younger than the bound', () => {
    expect(fullDetectionReason(last, 'a', 1_000 + DAY - 1, DAY)).toBeNull();
    expect(fullDetectionReason(null, 'a', 1_000, DAY)).toBe('first');
    expect(fullDetectionReason(last, 'b', 1_001, DAY)).toBe('changed');
    expect(fullDetectionReason(last, null, 1_001, DAY)).toBe('cannot tell');
    expect(fullDetectionReason({ fingerprint: null, at: 1_000 }, 'a', 1_001, DAY)).toBe('cannot tell');
    expect(fullDetectionReason(last, 'a', 1_000 + DAY, DAY)).toBe('safety bound');
    expect(fullDetectionReason(last, 'a', 999, DAY)).toBe('safety bound');
  });
});

describe('linuxFingerprint', () => {
  const fp = (change: (o: LinuxProbeObservations) => void = () => undefined) => {
    const o = running();
    change(o);
    return linuxFingerprint(o);
  };

  it('is stable for the same observations and moves with the daemon binary, a package database or the PID', () => {
    expect(fp()).not.toBeNull();
    expect(fp()).toBe(fp());
    expect(fp((o) => (o.stamps['/opt/teamviewer/tv_bin/teamviewerd'] = '99:53:1700000000000:33261'))).not.toBe(fp());
    expect(fp((o) => (o.stamps['/var/lib/dpkg/status'] = '13:901:1700000000001:33188'))).not.toBe(fp());
    expect(fp((o) => (o.stamps['/var/lib/rpm/rpmdb.sqlite'] = '14:1:1:33188'))).not.toBe(fp());
    expect(fp((o) => (o.pidFile = { status: 'ok', text: '5555\n' }))).not.toBe(fp());
  });

  it('counts global.conf by what detection takes from it when readable, by its stamp when not', () => {
    expect(fp((o) => (o.stamps['/opt/teamviewer/config/global.conf'] = '12:31:1700000009999:33152'))).toBe(fp());
    expect(fp((o) => (o.config.read = { status: 'ok', text: '[int32] ClientID = 1234567890\n[int32] LastSeen = 2\n' }))).toBe(fp());
    expect(fp((o) => (o.config.read = { status: 'ok', text: '[int32] ClientID = 42\n' }))).not.toBe(fp());
    expect(fp((o) => (o.config.read = { status: 'ok', text: 'garbage\n' }))).not.toBe(fp());
    const unreadable = (stamp: string) => fp((o) => {
      o.config.read = { status: 'unreadable', reason: 'permission denied' };
      o.stamps['/opt/teamviewer/config/global.conf'] = stamp;
    });
    expect(unreadable('12:30:1')).toBe(unreadable('12:30:1'));
    expect(unreadable('12:30:1')).not.toBe(unreadable('12:30:2'));
  });

  it('cannot tell while the daemon is installed and no live teamviewerd stands behind the PID file', () => {
    expect(fp((o) => (o.pidFile = { status: 'missing' }))).toBeNull();
    expect(fp((o) => (o.pidFile = { status: 'ok', text: 'junk' }))).toBeNull();
    expect(fp((o) => (o.comm = { status: 'missing' }))).toBeNull();
    expect(fp((o) => (o.comm = { status: 'ok', text: 'bash\n' }))).toBeNull();
  });

  it('vouches for "not installed": no daemon binary, no PID file', () => {
    const absent = (change: (o: LinuxProbeObservations) => void = () => undefined) => fp((o) => {
      o.stamps['/opt/teamviewer/tv_bin/teamviewerd'] = ABSENT;
      o.stamps['/opt/teamviewer/config/global.conf'] = ABSENT;
      o.config = { path: '/opt/teamviewer/config/global.conf', read: { status: 'missing' } };
      o.pidFile = { status: 'missing' };
      o.comm = null;
      change(o);
    });
    expect(absent()).not.toBeNull();
    expect(absent((o) => (o.stamps['/opt/teamviewer/tv_bin/teamviewerd'] = '1:1:1:1'))).toBeNull();
    expect(absent((o) => (o.stamps['/var/lib/dpkg/status'] = '13:2000:1:1'))).not.toBe(absent());
  });
});

describe('macFingerprint', () => {
  it('vouches only for "no bundle"; an installed or unexaminable bundle needs launchctl', () => {
    expect(macFingerprint([ABSENT, ABSENT])).toBe('not installed');
    expect(macFingerprint(['1:2:3:4', ABSENT])).toBeNull();
    expect(macFingerprint([ABSENT, '!EACCES'])).toBeNull();
  });
});
