// The .msi, inspected with msiinfo: what Windows Installer will do with it, table by table.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PACKAGE_TEST, ROOT, VERSION, artifact, has, run } from './artifacts.js';

const msi = artifact(`rmagent-${VERSION}-x64.msi`);
const tableOf = (file: string, name: string): string[][] => run('msiinfo', ['export', file, name]).stdout.trim().split(/\r?\n/).slice(3).map((l) => l.split('\t'));
const table = (name: string): string[][] => tableOf(msi, name);
const row = (name: string, key: string) => table(name).find((r) => r[0] === key);

describe.skipIf(!PACKAGE_TEST || !has('msiinfo'))('.msi', () => {
  it('is per-machine with the install parameters secure and the token hidden from logs', () => {
    expect(row('Property', 'ALLUSERS')?.[1]).toBe('1');
    expect(row('Property', 'ProductVersion')?.[1]).toBe(VERSION.replace(/[-+].*$/, ''));
    expect(row('Property', 'MsiHiddenProperties')?.[1]?.split(';')).toEqual(expect.arrayContaining(['ENROLL_TOKEN', 'ENROLL_ARGS']));
    expect(row('Property', 'SecureCustomProperties')?.[1]?.split(';')).toEqual(expect.arrayContaining(['SERVER_URL', 'ENROLL_TOKEN', 'SERVER_KEY', 'ASSIGNMENT_ID', 'ALIAS', 'PURGE', 'ALLOWCHANGES']));
  });

  it('installs rmagent.exe and its service wrapper under Program Files', () => {
    const files = table('File').map((r) => r[2]);
    expect(files).toEqual(expect.arrayContaining(['rmagent.exe', 'rmagent-service.exe', 'rmagent-service.xml']));
    expect(row('Directory', 'INSTALLDIR')?.slice(1)).toEqual(['ProgramFiles64Folder', 'rmagent']);
    expect(row('Directory', 'DATADIR')?.slice(1)).toEqual(['CommonAppDataFolder', 'rmagent']);
    expect(row('Component', 'AgentService')?.[5]).toBe('ServiceWrapperExe');
  });

  it('registers an auto-start LocalSystem service that is stopped and removed on uninstall', () => {
    const svc = row('ServiceInstall', 'RmagentService')!;
    expect(svc.slice(1, 5)).toEqual(['rmagent', 'rmagent Remote Management agent', '16', '2']);
    expect(svc[8]).toBe('LocalSystem');
    const ctl = row('ServiceControl', 'RmagentServiceControl')!;
    expect(ctl[1]).toBe('rmagent');
    expect(Number(ctl[2]) & 0x1 && Number(ctl[2]) & 0x2 && Number(ctl[2]) & 0x20 && Number(ctl[2]) & 0x80).toBeTruthy(); // start on install, stop both, delete on uninstall
  });

  it('enrolls as SYSTEM with a hidden command line, restricts the state ACL and sets recovery actions', () => {
    const ca = Object.fromEntries(table('CustomAction').map((r) => [r[0], { type: Number(r[1]), source: r[2], target: r[3] }]));
    const deferredSystem = 0x400 | 0x800;
    expect(ca.Enroll).toMatchObject({ source: 'RmagentExe', target: '[ENROLL_ARGS]' });
    expect(ca.Enroll!.type & (deferredSystem | 0x2000)).toBe(deferredSystem | 0x2000);
    for (const id of ['EnrollArgsBase', 'EnrollArgsKey', 'EnrollArgsAssignment', 'EnrollArgsAlias']) expect(ca[id]!.type & 0x2000, id).toBe(0x2000);
    expect(ca.EnrollArgsBase!.target).toBe('enroll --server "[SERVER_URL]" --token "[ENROLL_TOKEN]"');
    expect(ca.RestrictStateAcl!.target).toContain('/inheritance:r');
    expect(ca.RestrictStateAcl!.type & deferredSystem).toBe(deferredSystem);
    expect(ca.ServiceRecovery!.target).toMatch(/^failure rmagent reset= \d+ actions= restart\/5000/);
    expect(ca.PurgeData!.target).toContain('rmdir /s /q');
  });

  it('orders enrollment after the service is installed and before it starts; purge only on PURGE=1', () => {
    const seq = Object.fromEntries(table('InstallExecuteSequence').map((r) => [r[0], { cond: r[1], n: Number(r[2]) }]));
    expect(seq.Enroll!.n).toBeGreaterThan(seq.InstallServices!.n);
    expect(seq.Enroll!.n).toBeLessThan(seq.StartServices!.n);
    expect(seq.Enroll!.cond).toContain('NOT REMOVE="ALL"');
    expect(seq.EnrollArgsBase!.n).toBeLessThan(seq.InstallInitialize!.n);
    expect(seq.PurgeData!.cond).toBe('REMOVE="ALL" AND PURGE="1" AND NOT UPGRADINGPRODUCTCODE');
    expect(row('Registry', table('Registry').find((r) => r[3] === 'Version')?.[0] ?? '')?.slice(1, 4)).toEqual(['2', 'SOFTWARE\\rmagent', 'Version']);
  });
});

// Needs no build: rmagent.wxs compiled by wixl with stand-in payload files (well under a second), so the
// source is checked in `npm test` too. ALLOWCHANGES=1 must create state\allow-changes (src/services/opt-in.ts).
describe.skipIf(!has('wixl') || !has('msiinfo'))('rmagent.wxs compiled with a stand-in payload', () => {
  let tmp: string;
  let built: string;
  const seq = () => Object.fromEntries(tableOf(built, 'InstallExecuteSequence').map((r) => [r[0], { cond: r[1], n: Number(r[2]) }]));
  const actions = () => Object.fromEntries(tableOf(built, 'CustomAction').map((r) => [r[0], { type: Number(r[1]), source: r[2], target: r[3] }]));

  beforeAll(() => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'rmagent-wxs-'));
    for (const f of ['rmagent.wxs', 'rmagent-service.xml']) fs.copyFileSync(path.join(ROOT, 'installer/windows', f), path.join(tmp, f));
    fs.writeFileSync(path.join(tmp, 'rmagent.exe'), 'stand-in');
    fs.writeFileSync(path.join(tmp, 'rmagent-service.exe'), 'stand-in');
    built = path.join(tmp, 'rmagent.msi');
    const r = run('wixl', ['-a', 'x64', '-D', 'Version=1.2.3', '-D', 'ExePath=rmagent.exe', '-D', 'WrapperPath=rmagent-service.exe', '-D', 'HereDir=.', '-o', built, 'rmagent.wxs'], { cwd: tmp });
    expect(r.code, r.stderr).toBe(0);
  });
  afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

  it('ALLOWCHANGES=1 creates state\\allow-changes as SYSTEM after the state ACL is restricted and before the service starts; =0 removes it', () => {
    const ca = actions();
    const deferredSystem = 0x400 | 0x800;
    expect(ca.AllowChanges).toMatchObject({ source: 'CMD_EXE' });
    expect(ca.AllowChanges!.target).toMatch(/^\/c if not exist "\[STATEDIR\]allow-changes" echo .+>"\[STATEDIR\]allow-changes"$/);
    expect(ca.AllowChanges!.type & (deferredSystem | 0x40)).toBe(deferredSystem); // runs as SYSTEM, failure fails the install
    expect(ca.WithdrawChanges!.target).toBe('/c if exist "[STATEDIR]allow-changes" del /f /q "[STATEDIR]allow-changes"');
    expect(ca.WithdrawChanges!.type & deferredSystem).toBe(deferredSystem);
    const s = seq();
    expect(s.AllowChanges!.cond).toBe('ALLOWCHANGES="1" AND NOT REMOVE="ALL"');
    expect(s.WithdrawChanges!.cond).toBe('ALLOWCHANGES="0" AND NOT REMOVE="ALL"');
    for (const id of ['AllowChanges', 'WithdrawChanges']) {
      expect(s[id]!.n, id).toBeGreaterThan(s.RestrictStateAcl!.n);
      expect(s[id]!.n, id).toBeLessThan(s.StartServices!.n);
    }
    // Not a component: an upgrade or plain uninstall would otherwise take the file away with the old product.
    expect(tableOf(built, 'File').map((r) => r[2])).not.toContain('allow-changes');
  });

  it('ALLOWCHANGES reaches the elevated side (build.sh marks it secure, as the package test checks on the real .msi)', () => {
    expect(fs.readFileSync(path.join(ROOT, 'installer/windows/build.sh'), 'utf8')).toMatch(/SecureCustomProperties[^\n]*\n?[^\n]*ALLOWCHANGES/);
  });
});
