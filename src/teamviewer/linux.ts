// Linux: packages teamviewer / teamviewer-host, /opt/teamviewer, global.conf, `teamviewer info`, teamviewerd.
// gatherLinux() touches the host (through root and the runner); decideLinux() turns what it saw into facts.
import type { TeamViewerFacts } from '../protocol/model.js';
import type { CommandResult } from '../system/exec.js';
import { COMMAND_TIMEOUT_MS, commandMissing, underRoot, type TeamViewerContext } from './context.js';
import { hostFileExists, readHostFile, type FileRead } from './host-files.js';
import { globalConfInteger, parseGlobalConf } from './parse/global-conf.js';
import { parseDpkgStatus, parseRpmQuery, type InstalledPackage } from './parse/packages.js';
import { parseTeamViewerInfo } from './parse/teamviewer-info.js';

export const LINUX_CONFIG_PATHS = ['/opt/teamviewer/config/global.conf', '/etc/teamviewer/global.conf'];
export const DAEMON_PATH = '/opt/teamviewer/tv_bin/teamviewerd';
export const PID_FILE = '/run/teamviewerd.pid';
const PACKAGES = ['teamviewer-host', 'teamviewer'] as const;

export interface LinuxObservations {
  config: { path: string; read: FileRead };
  daemonBinary: boolean;
  info: CommandResult;
  /** null = no package manager answered. */
  packages: { tool: 'dpkg' | 'rpm'; installed: InstalledPackage[] } | null;
  /** systemctl, else the PID file; null = cannot tell. */
  daemonRunning: { running: boolean; source: string } | null;
}

export async function gatherLinux(ctx: TeamViewerContext): Promise<LinuxObservations> {
  const run = (cmd: string, args: string[]) => ctx.runner.run(cmd, args, { timeoutMs: COMMAND_TIMEOUT_MS });
  const [config, daemonBinary, info, packages, daemonRunning] = await Promise.all([
    readFirstConfig(ctx.root),
    hostFileExists(underRoot(ctx.root, DAEMON_PATH)),
    run('teamviewer', ['info']),
    queryPackages(run),
    daemonState(ctx, run),
  ]);
  return { config, daemonBinary, info, packages, daemonRunning };
}

export async function readFirstConfig(root: string): Promise<LinuxObservations['config']> {
  let first: LinuxObservations['config'] | null = null;
  for (const p of LINUX_CONFIG_PATHS) {
    const read = await readHostFile(underRoot(root, p));
    if (read.status !== 'missing') return { path: p, read };
    first ??= { path: p, read };
  }
  return first!;
}

type Run = (cmd: string, args: string[]) => Promise<CommandResult>;

async function queryPackages(run: Run): Promise<LinuxObservations['packages']> {
  const dpkg = await Promise.all(PACKAGES.map((name) => run('dpkg', ['-s', '--', name])));
  if (!dpkg.some(commandMissing)) {
    return { tool: 'dpkg', installed: dpkg.flatMap((r, i) => (r.code === 0 ? [parseDpkgStatus(PACKAGES[i]!, r.stdout)] : [])).filter((p) => p !== null) };
  }
  const rpm = await Promise.all(PACKAGES.map((name) => run('rpm', ['-q', '--', name])));
  if (rpm.some(commandMissing)) return null;
  return { tool: 'rpm', installed: rpm.flatMap((r, i) => (r.code === 0 ? [parseRpmQuery(PACKAGES[i]!, r.stdout)] : [])).filter((p) => p !== null) };
}

async function daemonState(ctx: TeamViewerContext, run: Run): Promise<LinuxObservations['daemonRunning']> {
  const r = await run('systemctl', ['is-active', '--', 'teamviewerd']);
  const word = r.stdout.trim().split(/\s+/)[0];
  if (!commandMissing(r) && r.code !== null && word && /^(active|inactive|failed|activating|deactivating|reloading)$/.test(word)) {
    return { running: word === 'active' || word === 'reloading', source: 'systemctl is-active teamviewerd' };
  }
  // No systemd (containers, old distributions): the daemon's PID file and that PID under /proc.
  const pidFile = await readHostFile(underRoot(ctx.root, PID_FILE));
  if (pidFile.status !== 'ok') return null;
  const pid = pidFile.text.trim();
  if (!/^\d{1,10}$/.test(pid)) return null;
  return { running: await hostFileExists(underRoot(ctx.root, `/proc/${pid}`)), source: PID_FILE };
}

/** All that detection takes from global.conf; the change probe fingerprints exactly this (probe.ts). */
export function decideConfig(config: LinuxObservations['config']): { source: string | null; id: string | null; warnings: string[] } {
  const { read, path: confPath } = config;
  if (read.status === 'missing') return { source: null, id: null, warnings: [] };
  if (read.status === 'unreadable') {
    return { source: null, id: null, warnings: [`${confPath} cannot be read (${read.reason})${read.reason === 'permission denied' ? '; reading the TeamViewer ID needs root' : ''}`] };
  }
  const conf = parseGlobalConf(read.text);
  const id = globalConfInteger(conf, 'ClientID');
  const warnings: string[] = [];
  if (Object.keys(conf.entries).length === 0 && read.text.trim()) warnings.push(`${confPath} is corrupt (no readable entries)`);
  else if (conf.entries.ClientID && !id) warnings.push(`${confPath} has a ClientID that is not a number`);
  return { source: `global.conf (${confPath})`, id, warnings };
}

export function decideLinux(obs: LinuxObservations, detectedAt: number): TeamViewerFacts {
  const info = commandMissing(obs.info) ? null : parseTeamViewerInfo(`${obs.info.stdout}\n${obs.info.stderr}`);
  const pkgs = obs.packages?.installed ?? [];
  const host = pkgs.find((p) => p.name === 'teamviewer-host');
  const full = pkgs.find((p) => p.name === 'teamviewer');
  const installed = pkgs.length > 0 || obs.daemonBinary || Boolean(info?.version);
  const sources: string[] = [];
  const warnings: string[] = [];

  const config = decideConfig(obs.config);
  const configId = config.id;
  const { read } = obs.config;
  if (config.source) sources.push(config.source);
  warnings.push(...config.warnings);
  if (info) sources.push('teamviewer info');
  if (info?.permissionDenied && !info.teamviewerId && !configId && read.status !== 'unreadable') {
    warnings.push('teamviewer info could not read TeamViewer\'s configuration (permission denied); run as root');
  }
  if (obs.packages) sources.push(obs.packages.tool);
  if (obs.daemonBinary) sources.push(DAEMON_PATH);
  if (obs.daemonRunning) sources.push(obs.daemonRunning.source);

  return {
    installed,
    edition: host ? 'host' : full ? 'full' : null,
    version: installed ? (info?.version ?? host?.version ?? full?.version ?? null) : null,
    teamviewerId: installed ? (configId ?? info?.teamviewerId ?? null) : null,
    serviceRunning: installed ? (obs.daemonRunning?.running ?? info?.daemonActive ?? null) : null,
    managed: null,
    managementId: null,
    owner: null,
    installPath: obs.daemonBinary ? '/opt/teamviewer' : null,
    sources,
    warnings: installed ? warnings : [],
    detectedAt,
  };
}

export async function detectLinux(ctx: TeamViewerContext): Promise<TeamViewerFacts> {
  return decideLinux(await gatherLinux(ctx), ctx.now());
}
