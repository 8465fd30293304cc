// The software edge: what is installed and what updates are pending, read through the one command
// runner and from files under a root folder (a mounted host root, or a fixture tree in tests).
// It returns raw outputs; the parsers that make sense of them are pure functions in services/.
import { fsAsync as fs } from './fs-async.js';
import path from 'node:path';
import type { CommandResult, CommandRunner } from './exec.js';
import type { SystemChange, SystemChangeRunner } from './system-runner.js';
import { loadSysteminformation } from './sysinfo-si.js';
import { readLinuxBlockDevices } from './block-devices.js';
import { compareText } from './compare-text.js';
import type { FactValue, UpdateManager } from '../protocol/report-data.js';

export type SoftwarePlatform = 'linux' | 'win32' | 'darwin';

export interface SoftwareEdgeContext {
  runner: CommandRunner;
  /** Folder under which OS paths are resolved ('/' on a real device). */
  root: string;
  platform: SoftwarePlatform;
}

/** One raw answer from one source of installed software. */
export interface SoftwareSourceOutput {
  source: 'dpkg' | 'rpm' | 'reg' | 'app';
  /** What was read, e.g. the registry key or the bundle path (for messages). */
  origin: string;
  text: string;
}

export const REG_UNINSTALL_KEYS = [
  'HKLM\\SOFTWARE\\Microsoft\\Windows\\CurrentVersion\\Uninstall',
  'HKLM\\SOFTWARE\\WOW6432Node\\Microsoft\\Windows\\CurrentVersion\\Uninstall',
];
const DPKG_FORMAT = '${Package}\\t${Version}\\t${Architecture}\\t${db:Status-Status}\\t${Maintainer}\\n';
const RPM_FORMAT = '%{NAME}\\t%{VERSION}-%{RELEASE}\\t%{ARCH}\\t%{VENDOR}\\n';
const TIMEOUT_MS = 120_000;

/** Reads every source of installed software this platform has; a missing tool is skipped, not an error. */
export async function readInstalledSoftware(ctx: SoftwareEdgeContext): Promise<{ outputs: SoftwareSourceOutput[]; warnings: string[] }> {
  const outputs: SoftwareSourceOutput[] = [];
  const warnings: string[] = [];
  const keep = (source: SoftwareSourceOutput['source'], origin: string, r: CommandResult, okCodes = [0]) => {
    if (r.error === 'ENOENT') return;
    if (r.code !== null && okCodes.includes(r.code)) outputs.push({ source, origin, text: r.stdout });
    else warnings.push(`${origin}: ${r.error ?? `exit ${r.code}`} ${r.stderr.trim().slice(0, 200)}`.trim());
  };
  const under = ctx.root !== '/' && ctx.root !== '';
  if (ctx.platform === 'linux') {
    const admin = under ? [`--admindir=${path.join(ctx.root, 'var/lib/dpkg')}`] : [];
    keep('dpkg', 'dpkg-query', await ctx.runner.run('dpkg-query', [...admin, '-W', `-f=${DPKG_FORMAT}`], { timeoutMs: TIMEOUT_MS }));
    // rpm creates an empty database where none exists (e.g. ~/.rpmdb on Debian): ask it only where one is.
    const dbPath = await findRpmDb(ctx.root);
    if (dbPath) {
      const rpmRoot = under ? ['--root', ctx.root] : [];
      keep('rpm', 'rpm -qa', await ctx.runner.run('rpm', [...rpmRoot, '--dbpath', dbPath, '-qa', '--queryformat', RPM_FORMAT], { timeoutMs: TIMEOUT_MS }));
    }
  } else if (ctx.platform === 'win32') {
    for (const key of REG_UNINSTALL_KEYS) keep('reg', key, await ctx.runner.run('reg', ['query', key, '/s'], { timeoutMs: TIMEOUT_MS }), [0, 1]);
  } else {
    for (const plist of await findAppBundles(ctx.root)) {
      const text = await readPlistAsXml(ctx, plist);
      if (text === null) warnings.push(`${plist}: cannot read Info.plist`);
      else outputs.push({ source: 'app', origin: plist, text });
    }
  }
  return { outputs, warnings };
}

const RPM_DB_DIRS = ['/usr/lib/sysimage/rpm', '/var/lib/rpm'];
const RPM_DB_FILES = ['rpmdb.sqlite', 'Packages.db', 'Packages'];

/** The rpm database folder (as seen inside `root`) when this system has one with content. */
async function findRpmDb(root: string): Promise<string | null> {
  for (const dir of RPM_DB_DIRS) {
    for (const file of RPM_DB_FILES) {
      if (await fs.stat(path.join(root, dir, file)).then((s) => s.isFile() && s.size > 0, () => false)) return dir;
    }
  }
  return null;
}

// /Applications/*.app and one level of sub-folders (e.g. /Applications/Utilities/*.app).
async function findAppBundles(root: string): Promise<string[]> {
  const found: string[] = [];
  const scan = async (dir: string, depth: number) => {
    let entries: import('node:fs').Dirent[];
    try {
      entries = await fs.readdir(dir, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries.sort((a, b) => compareText(a.name, b.name))) {
      if (!e.isDirectory()) continue;
      if (e.name.endsWith('.app')) found.push(path.join(dir, e.name, 'Contents', 'Info.plist'));
      else if (depth === 0 && found.length < 5_000) await scan(path.join(dir, e.name), 1);
    }
  };
  await scan(path.join(root, 'Applications'), 0);
  return found;
}

// Most bundles ship XML plists; binary ones are converted by plutil (macOS only).
async function readPlistAsXml(ctx: SoftwareEdgeContext, file: string): Promise<string | null> {
  let data: Buffer;
  try {
    data = await fs.readFile(file);
  } catch {
    return null;
  }
  if (data.subarray(0, 6).toString('latin1') !== 'bplist') return data.toString('utf8');
  const r = await ctx.runner.run('plutil', ['-convert', 'xml1', '-o', '-', '--', file], { timeoutMs: 10_000 });
  return r.code === 0 ? r.stdout : null;
}

// ---- pending updates -------------------------------------------------------------------------
export type { UpdateManager };

export interface PendingUpdatesOutput {
  manager: UpdateManager;
  result: CommandResult;
}

const WINDOWS_UPDATE_QUERY =
  "$ErrorActionPreference='Stop'; $s=New-Object -ComObject Microsoft.Update.Session; $r=$s.CreateUpdateSearcher().Search('IsInstalled=0 and IsHidden=0'); " +
  "@($r.Updates | ForEach-Object { [pscustomobject]@{ Title=$_.Title; KB=($_.KBArticleIDs -join ','); MsrcSeverity=$_.MsrcSeverity; Categories=(($_.Categories | ForEach-Object { $_.Name }) -join ','); RebootRequired=$_.RebootRequired } }) | ConvertTo-Json -Compress";
const WINDOWS_UPDATE_INSTALL =
  "$ErrorActionPreference='Stop'; $s=New-Object -ComObject Microsoft.Update.Session; $r=$s.CreateUpdateSearcher().Search('IsInstalled=0 and IsHidden=0'); " +
  '$c=New-Object -ComObject Microsoft.Update.UpdateColl; foreach($u in $r.Updates){ if(-not $u.EulaAccepted){$u.AcceptEula()}; [void]$c.Add($u) }; ' +
  'if($c.Count -eq 0){ "{}"; exit 0 }; $d=$s.CreateUpdateDownloader(); $d.Updates=$c; [void]$d.Download(); $i=$s.CreateUpdateInstaller(); $i.Updates=$c; $res=$i.Install(); ' +
  '[pscustomobject]@{ ResultCode=$res.ResultCode; RebootRequired=$res.RebootRequired } | ConvertTo-Json -Compress';

/** Asks the platform's update tool what is pending; on Linux the first of apt, dnf, yum that exists. */
export async function readPendingUpdates(ctx: SoftwareEdgeContext, options: { refresh: boolean; changes?: SystemChangeRunner }): Promise<PendingUpdatesOutput | null> {
  const { runner } = ctx;
  if (ctx.platform === 'win32') {
    return { manager: 'windows-update', result: await runner.run('powershell', ['-NoProfile', '-NonInteractive', '-Command', WINDOWS_UPDATE_QUERY], { timeoutMs: 15 * 60_000 }) };
  }
  if (ctx.platform === 'darwin') return { manager: 'softwareupdate', result: await runner.run('softwareupdate', ['-l'], { timeoutMs: 15 * 60_000 }) };
  // The index refresh writes /var/lib/apt: a change to the machine, run outside the agent's read-only sandbox.
  if (options.refresh) {
    const refresh: SystemChange = { purpose: 'patch-refresh', command: 'apt-get', args: ['-q', 'update'], env: { DEBIAN_FRONTEND: 'noninteractive' }, timeoutMs: 10 * 60_000 };
    if (options.changes) await options.changes.run(refresh);
    else await runner.run(refresh.command, refresh.args, { timeoutMs: refresh.timeoutMs, env: refresh.env! });
  }
  const apt = await runner.run('apt', ['list', '--upgradable'], { timeoutMs: TIMEOUT_MS });
  if (apt.error !== 'ENOENT') return { manager: 'apt', result: apt };
  for (const manager of ['dnf', 'yum'] as const) {
    const r = await runner.run(manager, ['-q', ...(options.refresh ? [] : ['-C']), 'check-update'], { timeoutMs: 10 * 60_000 });
    if (r.error !== 'ENOENT') return { manager, result: r };
  }
  return null;
}

/**
 * The command that installs the named updates (all pending ones when `names` is empty) with the platform's tool. Pure.
 * The names come from the tool's own listing (a repository can publish odd ones): `--` ends the options, so a name
 * such as `-oDPkg::Pre-Invoke::=reboot` is a package name apt-get cannot find, not an option it obeys as root.
 * softwareupdate has no `--`: installUpdates refuses a label starting with '-'.
 */
export function updateInstallChange(manager: UpdateManager, names: readonly string[]): SystemChange {
  const timeoutMs = 2 * 3_600_000;
  switch (manager) {
    case 'apt':
      return {
        purpose: 'patch-install',
        command: 'apt-get',
        args: ['-y', '-q', '-o', 'Dpkg::Options::=--force-confdef', '-o', 'Dpkg::Options::=--force-confold', ...(names.length ? ['install', '--only-upgrade', '--', ...names] : ['upgrade'])],
        env: { DEBIAN_FRONTEND: 'noninteractive' },
        timeoutMs,
      };
    case 'dnf':
    case 'yum':
      return { purpose: 'patch-install', command: manager, args: ['-y', '-q', 'upgrade', ...(names.length ? ['--', ...names] : [])], timeoutMs };
    case 'softwareupdate':
      return { purpose: 'patch-install', command: 'softwareupdate', args: ['-i', ...(names.length ? names : ['-a'])], timeoutMs };
    case 'windows-update':
      return { purpose: 'patch-install', command: 'powershell', args: ['-NoProfile', '-NonInteractive', '-Command', WINDOWS_UPDATE_INSTALL], timeoutMs };
  }
}

/** Installs updates as a change to the machine: outside the agent's sandbox (system-runner.ts). */
export async function installUpdates(changes: SystemChangeRunner, manager: UpdateManager, names: readonly string[]): Promise<CommandResult> {
  const option = manager === 'softwareupdate' ? names.find((n) => n.startsWith('-')) : undefined;
  if (option) return { code: null, stdout: '', stderr: `refused update label ${JSON.stringify(option.slice(0, 200))}: it would be read as an option`, error: 'EINVAL' };
  return changes.run(updateInstallChange(manager, names));
}

// ---- hardware, OS and network (systeminformation, loaded on first use: the daemon starts without it) --
/** Flat groups of facts, each a string, number, boolean or null (unknown): what an inventory report carries. */
export type Facts = Record<string, FactValue>;
export interface SystemFacts {
  system: Facts;
  bios: Facts;
  os: Facts;
  cpu: Facts;
  memory: Facts;
  disks: Facts[];
  network: Facts[];
}

/** A measured figure, or null where systeminformation reports an unknown one as 0 or -1 (CPU speed, link speed). */
export const known = (n: number | null | undefined): number | null => (typeof n === 'number' && Number.isFinite(n) && n > 0 ? n : null);

/** Reads hardware/OS/network facts; a part that fails is left empty rather than failing the inventory. Unknown facts are null. */
export async function readSystemFacts(): Promise<SystemFacts> {
  const si = await loadSysteminformation();
  const safe = async <T>(p: Promise<T>, fallback: T): Promise<T> => p.catch(() => fallback);
  const [system, bios, os, cpu, mem, disks, network] = await Promise.all([
    safe(si.system(), null),
    safe(si.bios(), null),
    safe(si.osInfo(), null),
    safe(si.cpu(), null),
    safe(si.mem(), null),
    safe(si.diskLayout(), []),
    safe(si.networkInterfaces(), []),
  ]);
  return {
    system: system ? { manufacturer: system.manufacturer, model: system.model, serial: system.serial, uuid: system.uuid, virtual: system.virtual } : {},
    bios: bios ? { vendor: bios.vendor, version: bios.version, releaseDate: bios.releaseDate } : {},
    os: os ? { platform: os.platform, distro: os.distro, release: os.release, codename: os.codename, kernel: os.kernel, arch: os.arch, hostname: os.hostname, fqdn: os.fqdn } : {},
    cpu: cpu ? { manufacturer: cpu.manufacturer, brand: cpu.brand, cores: cpu.cores, physicalCores: known(cpu.physicalCores), speedGHz: known(cpu.speed) } : {},
    memory: mem ? { totalBytes: mem.total, swapBytes: mem.swaptotal } : {},
    // systeminformation parses lsblk, and returns [] where its output differs (a virtio disk here): /sys/block then.
    disks: disks.length || process.platform !== 'linux'
      ? disks.map((d) => ({ device: d.device, type: d.type || null, name: d.name || null, vendor: d.vendor || null, sizeBytes: d.size, serial: d.serialNum || null, interface: d.interfaceType || null }))
      : await readLinuxBlockDevices(),
    network: (Array.isArray(network) ? network : [network])
      .filter((n) => !n.internal)
      .map((n) => ({ iface: n.iface, mac: n.mac, ip4: n.ip4, ip6: n.ip6, type: n.type, speedMbps: known(n.speed), dhcp: n.dhcp })),
  };
}
