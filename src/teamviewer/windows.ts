// Windows: `reg query` of HKLM\SOFTWARE\TeamViewer (and WOW6432Node for 32-bit installs on 64-bit Windows),
// the uninstall entries' DisplayName (Host vs full client), DeviceManagementV2 (managed) and `sc query`.
import type { TeamViewerFacts } from '../protocol/model.js';
import type { CommandResult } from '../system/exec.js';
import { COMMAND_TIMEOUT_MS, commandMissing, windowsPathUnderRoot, type TeamViewerContext } from './context.js';
import { hostFileExists } from './host-files.js';
import { findKey, parseRegQuery, regBytes, regNumber, regString, type RegKey } from './parse/reg-query.js';
import { parseScQuery, type ServiceState } from './parse/service-state.js';
import { parseVersion } from './parse/version.js';

export const WINDOWS_KEYS = ['HKLM\\SOFTWARE\\TeamViewer', 'HKLM\\SOFTWARE\\WOW6432Node\\TeamViewer'];
const UNINSTALL_KEYS = [
  'HKLM\\SOFTWARE\\Microsoft\\Windows\\CurrentVersion\\Uninstall',
  'HKLM\\SOFTWARE\\WOW6432Node\\Microsoft\\Windows\\CurrentVersion\\Uninstall',
];

export interface RegRead {
  key: string;
  status: 'ok' | 'missing' | 'denied' | 'error';
  keys: RegKey[];
  detail?: string;
}

export interface WindowsObservations {
  hives: RegRead[];
  /** InstallationDirectory (as written in the registry) -> TeamViewer.exe exists there. */
  exeExists: Record<string, boolean>;
  /** DisplayName of every uninstall entry that names TeamViewer; null = could not be read. */
  uninstallNames: string[] | null;
  service: ServiceState | null;
}

function regRead(key: string, r: CommandResult): RegRead {
  if (r.code === 0) return { key, status: 'ok', keys: parseRegQuery(r.stdout) };
  if (commandMissing(r)) return { key, status: 'error', keys: [], detail: 'reg.exe is not available' };
  const text = `${r.stderr}\n${r.stdout}`;
  if (/access is denied/i.test(text)) return { key, status: 'denied', keys: [] };
  if (r.code === 1 && /unable to find/i.test(text)) return { key, status: 'missing', keys: [] };
  return { key, status: 'error', keys: [], detail: r.error ?? (text.trim().split('\n')[0] || `exit ${r.code}`) };
}

export async function gatherWindows(ctx: TeamViewerContext): Promise<WindowsObservations> {
  const run = (args: string[]) => ctx.runner.run('reg', args, { timeoutMs: COMMAND_TIMEOUT_MS });
  const [hiveResults, uninstallResults, sc] = await Promise.all([
    Promise.all(WINDOWS_KEYS.map((k) => run(['query', k, '/s']))),
    Promise.all(UNINSTALL_KEYS.map((k) => run(['query', k, '/s', '/v', 'DisplayName']))),
    ctx.runner.run('sc', ['query', 'TeamViewer'], { timeoutMs: COMMAND_TIMEOUT_MS }),
  ]);
  const hives = hiveResults.map((r, i) => regRead(WINDOWS_KEYS[i]!, r));
  const exeExists: Record<string, boolean> = {};
  for (const hive of hives) {
    const dir = regString(installKey(hive), 'InstallationDirectory');
    if (dir) exeExists[dir] = await hostFileExists(windowsPathUnderRoot(ctx.root, `${dir.replace(/[\\/]+$/, '')}\\TeamViewer.exe`));
  }
  const uninstallReads = uninstallResults.map((r, i) => regRead(UNINSTALL_KEYS[i]!, r));
  const uninstallNames = uninstallReads.every((u) => u.status === 'error' || u.status === 'denied')
    ? null
    : uninstallReads.flatMap((u) => u.keys.map((k) => regString(k, 'DisplayName'))).filter((n): n is string => n !== null && /^TeamViewer\b/i.test(n.trim()));
  return { hives, exeExists, uninstallNames, service: commandMissing(sc) ? null : parseScQuery(sc.code, `${sc.stdout}\n${sc.stderr}`) };
}

/** The key holding the install's values: the TeamViewer key itself, or (older installs) its highest `Version<N>`. */
export function installKey(hive: RegRead): RegKey | undefined {
  const top = findKey(hive.keys, hive.key);
  if (regString(top, 'InstallationDirectory') || regString(top, 'Version')) return top;
  const prefix = `${hive.key.toLowerCase()}\\version`;
  return hive.keys
    .filter((k) => k.path.toLowerCase().startsWith(prefix) && /^\d+$/.test(k.path.slice(prefix.length)))
    .sort((a, b) => Number(b.path.slice(prefix.length)) - Number(a.path.slice(prefix.length)))
    .find((k) => regString(k, 'InstallationDirectory') || regString(k, 'Version'));
}

export function editionFromDisplayNames(names: string[]): 'host' | 'full' | null {
  if (names.some((n) => /^TeamViewer Host\b/i.test(n.trim()))) return 'host';
  if (names.some((n) => /^TeamViewer(\s+\d+)?$/i.test(n.trim()))) return 'full';
  return null;
}

/** ManagementId present and `Unmanaged` absent or all-zero bytes: the bytes are tested, not truthiness. */
export function managedFromKey(key: RegKey | undefined): boolean {
  if (!key) return false;
  const id = regString(key, 'ManagementId')?.trim();
  const bytes = regBytes(key, 'Unmanaged');
  const unmanaged = (bytes ? bytes.some((b) => b !== 0) : false) || (regNumber(key, 'Unmanaged') ?? 0n) !== 0n;
  return Boolean(id) && !unmanaged;
}

export function decideWindows(obs: WindowsObservations, detectedAt: number): TeamViewerFacts {
  const sources: string[] = [];
  const warnings: string[] = [];
  for (const h of obs.hives) {
    if (h.status === 'ok') sources.push(`reg query ${h.key}`);
    if (h.status === 'denied') warnings.push(`${h.key} cannot be read (access denied)`);
    if (h.status === 'error') warnings.push(`${h.key} cannot be read (${h.detail})`);
  }
  // Prefer the key whose InstallationDirectory really holds TeamViewer.exe (a 32-bit leftover may remain).
  const withKeys = obs.hives.map((h) => ({ hive: h, key: installKey(h) })).filter((c) => c.key);
  const dirOf = (c: (typeof withKeys)[number]) => regString(c.key, 'InstallationDirectory');
  const chosen = withKeys.find((c) => obs.exeExists[dirOf(c) ?? ''] === true) ?? withKeys[0];
  const dir = chosen ? dirOf(chosen) : null;
  const exeFound = dir ? obs.exeExists[dir] === true : false;
  if (chosen && dir && !exeFound) warnings.push(`${dir} does not hold TeamViewer.exe`);
  if (obs.uninstallNames) sources.push('uninstall entries');
  if (obs.service) sources.push('sc query TeamViewer');

  const installed = exeFound || (obs.uninstallNames?.length ?? 0) > 0 || (chosen !== undefined && obs.service !== null && obs.service !== 'absent');
  if (!installed) return { installed: false, edition: null, version: null, teamviewerId: null, serviceRunning: null, managed: null, managementId: null, owner: null, installPath: null, sources, warnings, detectedAt };

  const top = chosen ? findKey(chosen.hive.keys, chosen.hive.key) : undefined;
  const management = chosen ? findKey(chosen.hive.keys, `${chosen.hive.key}\\DeviceManagementV2`) : undefined;
  const clientId = regNumber(chosen?.key, 'ClientID') ?? regNumber(top, 'ClientID');
  const ownerOf = (name: string) => regString(management, name) ?? regString(top, name);
  const account = ownerOf('OwningManagerAccountName');
  const company = ownerOf('OwningManagerCompanyName');
  return {
    installed,
    edition: obs.uninstallNames ? editionFromDisplayNames(obs.uninstallNames) : null,
    version: parseVersion(regString(chosen?.key, 'Version')).version,
    teamviewerId: clientId !== null && clientId > 0n ? clientId.toString() : null,
    serviceRunning: obs.service === null ? null : obs.service === 'running',
    managed: chosen ? managedFromKey(management) : null,
    managementId: regString(management, 'ManagementId')?.trim() || null,
    owner: account || company ? { account, company } : null,
    installPath: dir,
    sources,
    warnings,
    detectedAt,
  };
}

export async function detectWindows(ctx: TeamViewerContext): Promise<TeamViewerFacts> {
  return decideWindows(await gatherWindows(ctx), ctx.now());
}
