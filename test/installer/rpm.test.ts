// The .rpm, unpacked here (rpm2cpio | cpio) and queried: same layout as the .deb, scriptlets that
// enroll and handle systemd present or absent, config marked noreplace.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BUILD, PACKAGE_TEST, ROOT, VERSION, artifact, has, run } from './artifacts.js';

const rpm = artifact(`rmagent-${VERSION.replace(/-/g, '_')}-${BUILD}.x86_64.rpm`);

describe.skipIf(!PACKAGE_TEST || !has('rpm') || !has('cpio'))('.rpm', () => {
  let tmp: string;
  beforeAll(() => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'rmagent-rpm-'));
    const r = run('sh', ['-c', `rpm2cpio "${rpm}" | cpio -idm --quiet`], { cwd: tmp });
    expect(r.code, r.stderr).toBe(0);
  });
  afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

  it('holds the executable, the unit, the enroll helper and the config at their places', () => {
    expect(fs.readFileSync(path.join(tmp, 'usr/bin/rmagent')).equals(fs.readFileSync(artifact('rmagent-linux-x64')))).toBe(true);
    expect(fs.readFileSync(path.join(tmp, 'usr/lib/systemd/system/rmagent.service'), 'utf8')).toBe(fs.readFileSync(path.join(ROOT, 'installer/linux/rmagent.service'), 'utf8'));
    expect(fs.existsSync(path.join(tmp, 'usr/lib/rmagent/configure'))).toBe(true);
    expect(JSON.parse(fs.readFileSync(path.join(tmp, 'etc/rmagent/config.json'), 'utf8'))).toEqual({ logLevel: 'info' });
  });

  it('declares owners and modes: root, private state and log folders', () => {
    const list = run('rpm', ['-qlvp', rpm]).stdout;
    const line = (p: string) => list.split('\n').find((l) => l.endsWith(` ${p}`)) ?? '';
    expect(line('/usr/bin/rmagent')).toMatch(/^-rwxr-xr-x\s+1 root\s+root/);
    expect(line('/var/lib/rmagent')).toMatch(/^drwx------\s+\d+ root\s+root/);
    expect(line('/var/log/rmagent')).toMatch(/^drwx------\s+\d+ root\s+root/);
    expect(line('/etc/rmagent/config.json')).toMatch(/^-rw-r--r--\s+1 root\s+root/);
    expect(run('rpm', ['-qpc', rpm]).stdout.trim()).toBe('/etc/rmagent/config.json');
    expect(run('rpm', ['-qp', '--qf', '[%{FILEFLAGS:fflags} %{FILENAMES}\n]', rpm]).stdout).toMatch(/cn \/etc\/rmagent\/config.json/);
  });

  it('has scriptlets that enroll on install, work without a running systemd and stop on erase', () => {
    const scripts = run('rpm', ['-qp', '--scripts', rpm]).stdout;
    expect(scripts).toMatch(/postinstall scriptlet[\s\S]*\/usr\/lib\/rmagent\/configure/);
    expect(scripts).toContain('[ -d /run/systemd/system ]');
    expect(scripts).toMatch(/preuninstall scriptlet[\s\S]*disable --now rmagent\.service/);
    expect(scripts).toMatch(/postuninstall scriptlet[\s\S]*try-restart rmagent\.service/);
  });

  it('requires sonames every RPM distribution provides (SUSE has no package named libstdc++), and carries the build', () => {
    const requires = run('rpm', ['-qp', '--requires', rpm]).stdout.split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('rpmlib(') && l !== '/bin/sh');
    expect(requires.sort()).toEqual(['libc.so.6(GLIBC_2.28)(64bit)', 'libgcc_s.so.1()(64bit)', 'libstdc++.so.6()(64bit)']);
    expect(run('rpm', ['-qp', '--qf', '%{VERSION}-%{RELEASE} %{PACKAGER} %{GROUP}', rpm]).stdout).toMatch(new RegExp(`^${VERSION}-${BUILD} \\S.*<.+@.+> System Environment/Daemons$`));
  });

  it.skipIf(!has('rpmlint'))('rpmlint: no errors (each deliberate finding is filtered with its reason in installer/linux/rpm/rpmlintrc)', () => {
    const r = run('rpmlint', ['-r', path.join(ROOT, 'installer/linux/rpm/rpmlintrc'), rpm]);
    expect(r.stdout, r.stdout).toMatch(/\b0 errors\b/);
    expect(r.stdout).not.toMatch(/: E: /);
  });
});
