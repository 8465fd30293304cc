import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseAptUpgradable, parseDnfCheckUpdate, parseSoftwareUpdateList, parseWindowsUpdateJson } from '../../../src/services/patches/updates-parse.js';

const fixture = (name: string) => readFileSync(new URL(`../../fixtures/packages/${name}`, import.meta.url), 'utf8');

describe('pending update parsers', () => {
  it('apt list --upgradable: security pockets mark security updates', () => {
    const u = parseAptUpgradable(fixture('apt-upgradable.txt'));
    expect(u.map((x) => [x.name, x.severity])).toEqual([
      ['apt', 'security'],
      ['base-files', 'unspecified'],
      ['libssl3', 'security'],
      ['bash', 'security'],
      ['tzdata', 'unspecified'],
    ]);
    expect(u[2]).toMatchObject({ version: '3.0.17-1~deb12u2', from: '3.0.15-1~deb12u1', arch: 'amd64', origin: 'stable-security,stable' });
  });

  it('dnf check-update: wrapped names joined, obsoletes ignored, security repos marked', () => {
    const u = parseDnfCheckUpdate(fixture('dnf-check-update.txt'));
    expect(u.map((x) => x.name)).toEqual(['bash', 'kernel', 'openssl-libs', 'a-very-long-package-name-that-wraps']);
    expect(u[2]).toMatchObject({ arch: 'x86_64', version: '1:3.2.2-6.el9_5', severity: 'security' });
    expect(u[3]).toMatchObject({ arch: 'noarch', version: '2.0.1-3.el9', origin: 'appstream' });
  });

  it('softwareupdate -l: labels, versions, recommended and restart flags', () => {
    const u = parseSoftwareUpdateList(fixture('softwareupdate-l.txt'));
    expect(u).toHaveLength(4);
    expect(u[0]).toMatchObject({ name: 'macOS Sonoma 14.7.1-23H222', version: '14.7.1', severity: 'recommended', restart: true });
    expect(u[2]).toMatchObject({ name: 'Command Line Tools for Xcode-16.0', severity: 'unspecified', restart: false });
    expect(u[3]!.severity).toBe('security');
    expect(parseSoftwareUpdateList('Software Update Tool\n\nNo new software available.\n')).toEqual([]);
  });

  it('Windows Update JSON: MSRC severity, category fallback, KB, one object or an array', () => {
    const u = parseWindowsUpdateJson(fixture('windows-update.json'));
    expect(u.map((x) => x.severity)).toEqual(['critical', 'unspecified', 'unspecified']);
    expect(u[0]!.origin).toContain('KB5046633');
    expect(u[1]!.version).toBe('1.421.1480.0');
    expect(u[2]!.restart).toBe(true);
    expect(parseWindowsUpdateJson('{"Title":"Only one","MsrcSeverity":"Important"}')).toEqual([{ name: 'Only one', version: '', severity: 'important', origin: '', restart: false }]);
    expect(parseWindowsUpdateJson('')).toEqual([]);
    expect(parseWindowsUpdateJson('garbage')).toEqual([]);
  });
});
