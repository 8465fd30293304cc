import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseDpkgQuery, parseInfoPlist, parseRegUninstall, parseRpmQa } from '../../../src/services/assets/software-parse.js';

const fixture = (name: string) => readFileSync(new URL(`../../fixtures/packages/${name}`, import.meta.url), 'utf8');

describe('installed software parsers', () => {
  it('dpkg-query: installed packages only, with version, arch and maintainer', () => {
    const items = parseDpkgQuery(fixture('dpkg-query.txt'));
    expect(items.map((i) => i.name)).toEqual(['bash', 'coreutils', 'libssl3', 'tzdata']);
    expect(items[0]).toEqual({ name: 'bash', version: '5.2.15-2+b7', source: 'dpkg', arch: 'amd64', publisher: 'Matthias Klose <doko@debian.org>' });
  });

  it('rpm -qa: skips gpg-pubkey pseudo packages', () => {
    const items = parseRpmQa(fixture('rpm-qa.txt'));
    expect(items.map((i) => i.name)).toEqual(['bash', 'openssl-libs', 'kernel']);
    expect(items[1]).toMatchObject({ version: '3.0.7-27.el9', arch: 'x86_64', publisher: 'Red Hat, Inc.' });
  });

  it('reg query Uninstall: programs only (no system components, updates or empty keys)', () => {
    const items = parseRegUninstall(fixture('reg-uninstall.txt'));
    expect(items.map((i) => i.name)).toEqual(['7-Zip 23.01 (x64)', 'TeamViewer Host', 'Notepad++ (64-bit x64)']);
    expect(items[1]).toMatchObject({ version: '15.51.5', publisher: 'TeamViewer', id: '{A1B2C3D4-0000-1111-2222-333344445555}' });
    expect(items[2]!.version).toBe('');
  });

  it('Info.plist: name, short version, bundle id; entities decoded; folder name as fallback', () => {
    const firefox = parseInfoPlist(fixture('macos-root/Applications/Firefox.app/Contents/Info.plist'), '/Applications/Firefox.app/Contents/Info.plist');
    expect(firefox).toEqual({ name: 'Firefox', version: '128.0.3', source: 'app', id: 'org.mozilla.firefox', publisher: '© Firefox & Mozilla Developers' });
    const terminal = parseInfoPlist(fixture('macos-root/Applications/Utilities/Terminal.app/Contents/Info.plist'), '/Applications/Utilities/Terminal.app/Contents/Info.plist');
    expect(terminal).toMatchObject({ name: 'Terminal', version: '2.14', id: 'com.apple.Terminal' });
    expect(parseInfoPlist('not a plist', '/Applications/X.app/Contents/Info.plist')).toBeNull();
  });
});
