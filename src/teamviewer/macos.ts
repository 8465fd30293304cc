// macOS: the app bundles' Info.plist (bundle id decides Host vs full client), the preferences plists in
// /Library/Preferences (ID, owner), and `launchctl print` for the TeamViewer LaunchDaemon.
import type { TeamViewerFacts } from '../protocol/model.js';
import { COMMAND_TIMEOUT_MS, commandMissing, underRoot, type TeamViewerContext } from './context.js';
import { listHostDir, readHostFile } from './host-files.js';
import { isBinaryPlist, parsePlistXml, plistDecimal, plistDict, plistString, type PlistValue } from './parse/plist.js';
import { parseLaunchctlPrint, type ServiceState } from './parse/service-state.js';
import { parseVersion } from './parse/version.js';

export const MAC_BUNDLES = [
  { path: '/Applications/TeamViewer.app', id: 'com.teamviewer.TeamViewer', edition: 'full' },
  { path: '/Applications/TeamViewerHost.app', id: 'com.teamviewer.TeamViewerHost', edition: 'host' },
] as const;
const PREFS_DIR = '/Library/Preferences';
const PREFS_NAME = /^com\.teamviewer\.teamviewer.*\.plist$/i;
const DAEMON_LABELS = ['com.teamviewer.teamviewer_service', 'com.teamviewer.service'];

type Dict = { [key: string]: PlistValue };
export type PlistRead = { path: string; status: 'ok'; dict: Dict } | { path: string; status: 'missing' } | { path: string; status: 'unreadable'; reason: string };

export interface MacObservations {
  bundles: PlistRead[];
  preferences: PlistRead[];
  service: ServiceState | null;
}

/** Reads an XML or binary plist; binary ones go through `plutil -convert xml1 -o - FILE`. */
async function readPlist(ctx: TeamViewerContext, hostPath: string): Promise<PlistRead> {
  const file = underRoot(ctx.root, hostPath);
  const read = await readHostFile(file);
  if (read.status !== 'ok') return { path: hostPath, ...read };
  let xml = read.text;
  if (isBinaryPlist(xml)) {
    const r = await ctx.runner.run('plutil', ['-convert', 'xml1', '-o', '-', '--', file], { timeoutMs: COMMAND_TIMEOUT_MS });
    if (r.code !== 0) return { path: hostPath, status: 'unreadable', reason: commandMissing(r) ? 'binary plist and plutil is not available' : `plutil failed (${r.code ?? r.error})` };
    xml = r.stdout;
  }
  const parsed = parsePlistXml(xml);
  const dict = parsed.ok ? plistDict(parsed.value) : null;
  if (!dict) return { path: hostPath, status: 'unreadable', reason: parsed.ok ? 'not a dictionary' : `corrupt (${parsed.reason})` };
  return { path: hostPath, status: 'ok', dict };
}

export async function gatherMac(ctx: TeamViewerContext): Promise<MacObservations> {
  const prefNames = (await listHostDir(underRoot(ctx.root, PREFS_DIR))).filter((n) => PREFS_NAME.test(n));
  const [bundles, preferences, service] = await Promise.all([
    Promise.all(MAC_BUNDLES.map((b) => readPlist(ctx, `${b.path}/Contents/Info.plist`))),
    Promise.all(prefNames.map((n) => readPlist(ctx, `${PREFS_DIR}/${n}`))),
    daemonState(ctx),
  ]);
  return { bundles, preferences, service };
}

async function daemonState(ctx: TeamViewerContext): Promise<ServiceState | null> {
  for (const label of DAEMON_LABELS) {
    const r = await ctx.runner.run('launchctl', ['print', `system/${label}`], { timeoutMs: COMMAND_TIMEOUT_MS });
    if (commandMissing(r)) return null;
    const state = parseLaunchctlPrint(r.code, `${r.stdout}\n${r.stderr}`);
    if (state !== 'absent') return state;
  }
  return 'absent';
}

export function decideMac(obs: MacObservations, detectedAt: number): TeamViewerFacts {
  const sources: string[] = [];
  const warnings: string[] = [];
  // The bundle id decides the edition, not the folder name; full client first when both are present.
  const bundle = MAC_BUNDLES.map((b, i) => ({ b, read: obs.bundles[i]! })).find(({ read }) => read.status !== 'missing');
  for (const { path, ...r } of [...obs.bundles, ...obs.preferences]) {
    if (r.status === 'ok') sources.push(path);
    if (r.status === 'unreadable') warnings.push(`${path} cannot be read (${r.reason})`);
  }
  if (obs.service) sources.push('launchctl print');
  if (!bundle) return { installed: false, edition: null, version: null, teamviewerId: null, serviceRunning: null, managed: null, managementId: null, owner: null, installPath: null, sources, warnings: [], detectedAt };

  const info = bundle.read.status === 'ok' ? bundle.read.dict : null;
  const bundleId = plistString(info, 'CFBundleIdentifier');
  const edition = bundleId === 'com.teamviewer.TeamViewerHost' ? 'host' : bundleId === 'com.teamviewer.TeamViewer' ? 'full' : null;
  // Newest-looking preferences file with an ID wins (sorted names: teamviewer15 after teamviewer10).
  const prefs = obs.preferences.flatMap((p) => (p.status === 'ok' ? [p.dict] : [])).reverse();
  const withId = prefs.find((d) => plistDecimal(d, 'ClientID_64') ?? plistDecimal(d, 'ClientID')) ?? prefs[0] ?? null;
  const teamviewerId = withId ? (plistDecimal(withId, 'ClientID_64') ?? plistDecimal(withId, 'ClientID')) : null;
  const account = plistString(withId, 'OwningManagerAccountName');
  const company = plistString(withId, 'OwningManagerCompanyName');
  return {
    installed: true,
    edition,
    version: parseVersion(plistString(info, 'CFBundleShortVersionString')).version,
    teamviewerId: teamviewerId && teamviewerId !== '0' ? teamviewerId : null,
    serviceRunning: obs.service === null ? null : obs.service === 'running',
    // An owner is only written once assigned; its absence is not proof of the opposite (unverified): unknown.
    managed: account || company ? true : null,
    managementId: null,
    owner: account || company ? { account, company } : null,
    installPath: bundle.b.path,
    sources,
    warnings,
    detectedAt,
  };
}

export async function detectMac(ctx: TeamViewerContext): Promise<TeamViewerFacts> {
  return decideMac(await gatherMac(ctx), ctx.now());
}
