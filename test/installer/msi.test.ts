// The .msi, inspected with msiinfo: what Windows Installer will do with it, table by table. The real package
// (npm run test:package) and, in `npm test`, rmagent.wxs compiled with stand-in payload files and put through the
// same table edits (installer/windows/msi-tables.sh), so the source is checked on every run.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BUILD, FULL_VERSION, PACKAGE_TEST, ROOT, VERSION, artifact, has, run } from './artifacts.js';
import { clrRuntimeVersion, peMachine, supportedRuntimes } from './pe.js';

const tableOf = (file: string, name: string): string[][] => run('msiinfo', ['export', file, name]).stdout.replace(/\r/g, '').replace(/\n+$/, '').split('\n').slice(3).map((l) => l.split('\t'));
// A CustomAction target may itself hold a tab (the token/command line separator): columns 3..n-2 are the target.
type Action = { type: number; source: string | undefined; target: string };
const actionsOf = (file: string): Record<string, Action> =>
  Object.fromEntries(tableOf(file, 'CustomAction').map((r) => [r[0]!, { type: Number(r[1]), source: r[2], target: r.slice(3, r.length - 1).join('\t') }]));
const seqOf = (file: string) => Object.fromEntries(tableOf(file, 'InstallExecuteSequence').map((r) => [r[0], { cond: r[1], n: Number(r[2]) }]));
const rowOf = (file: string, name: string, key: string) => tableOf(file, name).find((r) => r[0] === key);

const HIDE_TARGET = 0x2000;
const DEFERRED_SYSTEM = 0x400 | 0x800;
const SDDL_DIR = 'O:BAG:SYD:PAI(A;OICI;FA;;;SY)(A;OICI;FA;;;BA)';

/** What every build of the package must say, whatever its payload (real or stand-in). */
function checkTables(msi: string, productVersion: string): void {
  // Versioning: x.y.z.BUILD, and a major upgrade of any build with the same x.y.z (VersionMaxInclusive 0x200).
  expect(rowOf(msi, 'Property', 'ProductVersion')?.[1]).toBe(productVersion);
  const upgrade = tableOf(msi, 'Upgrade').find((r) => r[6] === 'WIX_UPGRADE_DETECTED')!;
  expect(upgrade[2]).toBe(productVersion);
  expect(Number(upgrade[4]) & 0x200, 'same-version builds upgrade').toBe(0x200);
  const downgrade = tableOf(msi, 'Upgrade').find((r) => r[6] === 'WIX_DOWNGRADE_DETECTED')!;
  expect(Number(downgrade[4]) & 0x100, 'the same version is not a downgrade').toBe(0);
  expect(rowOf(msi, 'Property', 'ProductCode')?.[1]).toMatch(/^\{[0-9A-F-]{36}\}$/);

  // 64-bit: tools from System64Folder, the DLL action in the Binary table, every component 64-bit.
  const ca = actionsOf(msi);
  for (const id of ['SetIcaclsExe', 'SetScExe', 'SetCmdExe']) expect(ca[id]!.target, id).toMatch(/^\[System64Folder\][a-z]+\.exe$/);
  expect(JSON.stringify(ca)).not.toContain('[SystemFolder]');
  for (const c of tableOf(msi, 'Component')) expect(Number(c[3]) & 0x100, `component ${c[0]} is 64-bit`).toBe(0x100);

  // The token: never a command-line argument; its carriers hidden from logs.
  expect(ca.EnrollWithToken).toMatchObject({ source: 'RmagentCa', target: 'EnrollWithToken' });
  expect(ca.EnrollWithToken!.type & 0x3f, 'a DLL from the Binary table').toBe(1);
  expect(ca.EnrollWithToken!.type & (DEFERRED_SYSTEM | HIDE_TARGET)).toBe(DEFERRED_SYSTEM | HIDE_TARGET);
  expect(ca.EnrollDataBase!.target).toBe('[ENROLL_TOKEN]\t"[#RmagentExe]" enroll --server="[SERVER_URL]" --token-file=-');
  expect(ca.EnrollDataFile!.target).toBe('\t"[#RmagentExe]" enroll --server="[SERVER_URL]" --token-file="[ENROLL_TOKEN_FILE]"');
  // Every property inside its option's argument: a value of its own set to `--node-options=--require=X` would be
  // taken by rmagent.exe as runtime flags, as LocalSystem (docs/security.md section 14).
  for (const id of ['EnrollDataBase', 'EnrollDataFile', 'EnrollDataKey', 'EnrollDataAssignment', 'EnrollDataAlias']) {
    for (const m of ca[id]!.target.matchAll(/(\S*)"\[([A-Z_]+)\]"/g)) expect(m[1], `${id}: [${m[2]}] is inside an --option= argument`).toMatch(/^--[a-z-]+=$/);
  }
  for (const id of ['EnrollDataBase', 'EnrollDataFile', 'EnrollDataKey', 'EnrollDataAssignment', 'EnrollDataAlias']) {
    expect(ca[id]!.type & HIDE_TARGET, id).toBe(HIDE_TARGET);
    expect(ca[id]!.source, id).toBe('EnrollWithToken');
    expect(ca[id]!.target.split('\t').pop(), id).not.toMatch(/--token\b(?!-file)|\[ENROLL_TOKEN\]/);
  }
  for (const [id, a] of Object.entries(ca)) if (!id.startsWith('EnrollData')) expect(a.target, id).not.toContain('[ENROLL_TOKEN]');
  expect(rowOf(msi, 'Property', 'MsiHiddenProperties')?.[1]?.split(';')).toEqual(expect.arrayContaining(['ENROLL_TOKEN', 'EnrollWithToken']));
  expect(rowOf(msi, 'Property', 'SecureCustomProperties')?.[1]?.split(';')).toEqual(expect.arrayContaining(['SERVER_URL', 'ENROLL_TOKEN', 'ENROLL_TOKEN_FILE', 'SERVER_KEY', 'ASSIGNMENT_ID', 'ALIAS', 'PURGE', 'ALLOWCHANGES']));

  // Rollback: a registration still holding the token (and its key) goes; scheduled before the enrollment it undoes.
  expect(ca.EnrollRollback).toMatchObject({ source: 'RmagentExe', target: 'unenroll --yes --pending-only' });
  expect(ca.EnrollRollback!.type & 0x100, 'rollback action').toBe(0x100);
  expect(ca.EnrollRollback!.type & 0x800, 'as SYSTEM').toBe(0x800);
  const seq = seqOf(msi);
  expect(seq.EnrollRollback!.n).toBeLessThan(seq.EnrollWithToken!.n);
  expect(seq.EnrollRollback!.cond).toBe(seq.EnrollWithToken!.cond);
  expect(seq.EnrollWithToken!.n).toBeGreaterThan(seq.InstallServices!.n);
  expect(seq.EnrollWithToken!.n).toBeLessThan(seq.StartServices!.n);

  // ACLs: the whole data folder (and state, logs, config) SYSTEM + Administrators only, inheritance cut.
  const locks: Record<string, { table: string; sddl: string }> = Object.fromEntries(tableOf(msi, 'MsiLockPermissionsEx').map((r) => [r[1]!, { table: r[2]!, sddl: r[3]! }]));
  for (const dir of ['DATADIR', 'STATEDIR', 'LOGDIR']) {
    expect(locks[dir], dir).toEqual({ table: 'CreateFolder', sddl: SDDL_DIR });
    expect(tableOf(msi, 'CreateFolder').some((r) => r[0] === dir), `${dir} is created by the package`).toBe(true);
  }
  expect(locks.ConfigJson).toEqual({ table: 'File', sddl: 'O:BAG:SYD:PAI(A;;FA;;;SY)(A;;FA;;;BA)' });
  for (const { sddl } of Object.values(locks)) {
    expect(sddl).toMatch(/^O:BAG:SYD:PAI/); // protected: nothing inherited from %ProgramData%
    expect(sddl.match(/\(A;[^)]*\)/g)!.map((ace: string) => ace.split(';').pop())).toEqual(['SY)', 'BA)']);
  }
  expect(rowOf(msi, 'Directory', 'DATADIR')?.slice(1)).toEqual(['CommonAppDataFolder', 'rmagent']);
  const configComponent = rowOf(msi, 'Component', 'ConfigFile')!;
  expect(Number(configComponent[3]) & (0x80 | 0x10), 'config kept on upgrade and uninstall').toBe(0x90);
  expect(ca.ResetDataAcl!.target).toBe('"[DATADIR]*" /reset /T /C /Q');

  // The service host and its runtime configuration travel together.
  expect(tableOf(msi, 'File').map((r) => r[2])).toEqual(expect.arrayContaining(['rmagent.exe', 'rmagent-service.exe', 'rmagent-service.exe.config', 'rmagent-service.xml', 'config.json']));
  // The Event Log source for warnings and errors.
  expect(tableOf(msi, 'Registry').some((r) => r[2] === 'SYSTEM\\CurrentControlSet\\Services\\EventLog\\Application\\rmagent' && r[3] === 'EventMessageFile')).toBe(true);
}

describe.skipIf(!PACKAGE_TEST || !has('msiinfo'))('.msi', () => {
  const msi = artifact(`rmagent-${FULL_VERSION}-x64.msi`);
  let extracted: string;
  beforeAll(() => {
    extracted = fs.mkdtempSync(path.join(os.tmpdir(), 'rmagent-msi-files-'));
    const r = run('msiextract', ['-C', extracted, msi]);
    expect(r.code, r.stderr).toBe(0);
  });
  afterAll(() => fs.rmSync(extracted, { recursive: true, force: true }));
  const file = (name: string) => {
    const found = fs.readdirSync(extracted, { recursive: true, withFileTypes: true }).find((e) => e.isFile() && e.name === name);
    if (!found) throw new Error(`${name} not in the .msi`);
    return path.join(found.parentPath, found.name);
  };

  it('says what every build must: version x.y.z.BUILD with same-version upgrades, 64-bit actions, the token off every command line, locked ACLs', () => {
    checkTables(msi, `${VERSION}.${BUILD}`);
    expect(run('msiinfo', ['export', msi, 'Registry']).stdout).toContain(FULL_VERSION);
    expect(rowOf(msi, 'Property', 'ALLUSERS')?.[1]).toBe('1');
  });

  it('the service host runs on the .NET 4 every Windows 10/11 and Server 2016+ has (read from the binary and its config)', () => {
    const host = fs.readFileSync(file('rmagent-service.exe'));
    // WinSW 1.17 is built for the CLR 2.0: on its own it would need the .NET 3.5 feature...
    expect(clrRuntimeVersion(host)).toBe('v2.0.50727');
    // ...so the .exe.config next to it must let it run on the CLR 4.
    expect(supportedRuntimes(fs.readFileSync(file('rmagent-service.exe.config'), 'utf8'))).toContain('v4.0');
  });

  it('the enrollment custom action is a 64-bit DLL that exports EnrollWithToken and needs only Windows\' own DLLs', () => {
    const binary = path.join(extracted, 'RmagentCa.dll');
    expect(run('msidump', ['-s', '-d', extracted, msi]).code).toBe(0);
    const dll = fs.readdirSync(extracted, { recursive: true, withFileTypes: true }).find((e) => e.isFile() && /RmagentCa/.test(e.name));
    const bytes = fs.readFileSync(dll ? path.join(dll.parentPath, dll.name) : binary);
    expect(peMachine(bytes)).toBe('x64');
    // It refuses a command line carrying --node-options (a property value that closed its quotes), as UTF-16 text.
    expect(bytes.includes(Buffer.from('--node-options', 'utf16le'))).toBe(true);
    const objdump = has('x86_64-w64-mingw32-objdump') ? run('x86_64-w64-mingw32-objdump', ['-p', dll ? path.join(dll.parentPath, dll.name) : binary]).stdout : '';
    if (objdump) {
      expect(objdump).toMatch(/\]\s+EnrollWithToken/);
      const imports = [...objdump.matchAll(/DLL Name: (\S+)/g)].map((m) => m[1]!.toLowerCase()).sort();
      expect(imports).toEqual(['kernel32.dll', 'msi.dll', 'msvcrt.dll']);
    }
  });

  it('rmagent.exe carries rmagent\'s version resource, not Node.js\'s', () => {
    const text = fs.readFileSync(file('rmagent.exe')).toString('utf16le');
    expect(text).toContain(`${VERSION}.${BUILD}`);
    expect(text).toContain(FULL_VERSION);
    expect(text).toContain('rmagent Remote Management endpoint agent');
  });
});

describe.skipIf(!has('wixl') || !has('msiinfo') || !has('msibuild'))('rmagent.wxs compiled with a stand-in payload', () => {
  let tmp: string;
  let built: string;

  beforeAll(() => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'rmagent-wxs-'));
    for (const f of ['rmagent.wxs', 'rmagent-service.xml', 'rmagent-service.exe.config']) fs.copyFileSync(path.join(ROOT, 'installer/windows', f), path.join(tmp, f));
    fs.copyFileSync(path.join(ROOT, 'installer/linux/config.json'), path.join(tmp, 'config.json'));
    for (const f of ['rmagent.exe', 'rmagent-service.exe', 'rmagent-ca.dll']) fs.writeFileSync(path.join(tmp, f), 'stand-in');
    built = path.join(tmp, 'rmagent.msi');
    const r = run('wixl', ['-a', 'x64', '-D', 'Version=1.2.3.45', '-D', 'DisplayVersion=1.2.3+45', '-D', 'ExePath=rmagent.exe', '-D', 'WrapperPath=rmagent-service.exe', '-D', 'CaPath=rmagent-ca.dll', '-D', 'HereDir=.', '-o', built, 'rmagent.wxs'], { cwd: tmp });
    expect(r.code, r.stderr).toBe(0);
    const t = run('bash', [path.join(ROOT, 'installer/windows/msi-tables.sh'), built]);
    expect(t.code, t.stderr).toBe(0);
  });
  afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

  it('versioning, 64-bit actions, the token off every command line, rollback and the data folder\'s ACLs', () => {
    checkTables(built, '1.2.3.45');
  });

  it('ALLOWCHANGES=1 creates state\\allow-changes as SYSTEM after the ACLs and before the service starts; =0 removes it', () => {
    const ca = actionsOf(built);
    expect(ca.AllowChanges).toMatchObject({ source: 'CMD_EXE' });
    expect(ca.AllowChanges!.target).toMatch(/^\/c if not exist "\[STATEDIR\]allow-changes" echo .+>"\[STATEDIR\]allow-changes"$/);
    expect(ca.AllowChanges!.type & (DEFERRED_SYSTEM | 0x40)).toBe(DEFERRED_SYSTEM); // runs as SYSTEM, failure fails the install
    expect(ca.WithdrawChanges!.target).toBe('/c if exist "[STATEDIR]allow-changes" del /f /q "[STATEDIR]allow-changes"');
    const s = seqOf(built);
    expect(s.AllowChanges!.cond).toBe('ALLOWCHANGES="1" AND NOT REMOVE="ALL"');
    expect(s.WithdrawChanges!.cond).toBe('ALLOWCHANGES="0" AND NOT REMOVE="ALL"');
    for (const id of ['AllowChanges', 'WithdrawChanges']) {
      expect(s[id]!.n, id).toBeGreaterThan(s.CreateFolders!.n); // after the locked folders exist
      expect(s[id]!.n, id).toBeLessThan(s.StartServices!.n);
    }
    expect(tableOf(built, 'File').map((r) => r[2])).not.toContain('allow-changes');
  });

  it('registers an auto-start LocalSystem service that is stopped and removed on uninstall; purge only on PURGE=1', () => {
    const svc = rowOf(built, 'ServiceInstall', 'RmagentService')!;
    expect(svc.slice(1, 5)).toEqual(['rmagent', 'rmagent Remote Management agent', '16', '2']);
    expect(svc[8]).toBe('LocalSystem');
    const ctl = rowOf(built, 'ServiceControl', 'RmagentServiceControl')!;
    expect(Number(ctl[2]) & 0x1 && Number(ctl[2]) & 0x2 && Number(ctl[2]) & 0x20 && Number(ctl[2]) & 0x80).toBeTruthy();
    expect(seqOf(built).PurgeData!.cond).toBe('REMOVE="ALL" AND PURGE="1" AND NOT UPGRADINGPRODUCTCODE');
    expect(actionsOf(built).ServiceRecovery!.target).toMatch(/^failure rmagent reset= \d+ actions= restart\/5000/);
  });
});
