// "Has anything changed since the last full detection?" A full detection runs child processes (on Linux 4-6 of
// them, ~100 ms of CPU); this probe only stats and reads a few small files. The watcher probes every interval
// and detects again only when the fingerprint moved, when the probe cannot tell (null), or after a safety bound.
// A fingerprint must cover every input the full detection's facts depend on, or it must be null.
import type { TeamViewerContext } from './context.js';
import { underRoot } from './context.js';
import { ABSENT, hostFileStamp, readHostFile, type FileRead } from './host-files.js';
import { DAEMON_PATH, LINUX_CONFIG_PATHS, PID_FILE, decideConfig, readFirstConfig, type LinuxObservations } from './linux.js';
import { MAC_BUNDLES } from './macos.js';

/** A full detection is forced at least this often, whatever the probe says (for what no probe can see). */
export const FULL_DETECTION_MAX_AGE_MS = 24 * 3600_000;

// What `dpkg -s` and `rpm -q` read: any package operation rewrites one of these (dpkg's journal in updates/
// until it is folded into status; rpm's database as BDB `Packages`, NDB `Packages.db` or SQLite in WAL mode).
const PACKAGE_DATABASES = [
  '/var/lib/dpkg/status',
  '/var/lib/dpkg/updates',
  ...['/var/lib/rpm', '/usr/lib/sysimage/rpm'].flatMap((dir) => ['Packages', 'Packages.db', 'rpmdb.sqlite', 'rpmdb.sqlite-wal'].map((f) => `${dir}/${f}`)),
];

export interface LinuxProbeObservations {
  /** Host path -> hostFileStamp() of the daemon binary, the package databases and every global.conf path. */
  stamps: Record<string, string>;
  config: LinuxObservations['config'];
  pidFile: FileRead;
  /** /proc/<pid>/comm of the PID in the PID file; null when the PID file holds no PID. */
  comm: FileRead | null;
}

export function pidFromFile(read: FileRead): string | null {
  const pid = read.status === 'ok' ? read.text.trim() : '';
  return /^\d{1,10}$/.test(pid) ? pid : null;
}

/**
 * Pure: the fingerprint of what Linux detection would see, or null = cannot tell. Daemon liveness without
 * systemctl: teamviewerd writes its PID file (the unit's PIDFile=), and /proc/<pid>/comm says whether that PID is
 * still teamviewerd (a reused PID is not). With the daemon installed but no live teamviewerd behind the PID file
 * (stopped, or a unit that writes none) the probe cannot rule out a change systemctl would show: null.
 * global.conf counts by what detection takes from it (ID, warnings), so TeamViewer rewriting it unchanged
 * costs nothing; when it cannot be read, its stamp stands in.
 */
export function linuxFingerprint(obs: LinuxProbeObservations): string | null {
  const pid = pidFromFile(obs.pidFile);
  const alive = pid !== null && obs.comm?.status === 'ok' && obs.comm.text.trim() === 'teamviewerd';
  if (obs.stamps[DAEMON_PATH] !== ABSENT && !alive) return null;
  const config = obs.config.read.status === 'ok'
    ? { path: obs.config.path, ...decideConfig(obs.config) }
    : { ...decideConfig(obs.config), stamps: LINUX_CONFIG_PATHS.map((p) => obs.stamps[p] ?? ABSENT) };
  const files = Object.entries(obs.stamps).filter(([p]) => !LINUX_CONFIG_PATHS.includes(p)).sort(([a], [b]) => (a < b ? -1 : 1));
  return JSON.stringify({ files, config, daemon: alive ? pid : pid === null ? obs.pidFile.status : 'gone' });
}

export async function gatherLinuxProbe(ctx: TeamViewerContext): Promise<LinuxProbeObservations> {
  const paths = [DAEMON_PATH, ...LINUX_CONFIG_PATHS, ...PACKAGE_DATABASES];
  const [stampList, config, pidFile] = await Promise.all([
    Promise.all(paths.map((p) => hostFileStamp(underRoot(ctx.root, p)))),
    readFirstConfig(ctx.root),
    readHostFile(underRoot(ctx.root, PID_FILE)),
  ]);
  const pid = pidFromFile(pidFile);
  const comm = pid === null ? null : await readHostFile(underRoot(ctx.root, `/proc/${pid}/comm`));
  return { stamps: Object.fromEntries(paths.map((p, i) => [p, stampList[i]!])), config, pidFile, comm };
}

/**
 * Pure: macOS can be told only when no TeamViewer bundle is there (then detection reads nothing else that
 * matters: not installed). With a bundle the daemon's state needs `launchctl print`, a child process: null.
 */
export function macFingerprint(infoPlistStamps: string[]): string | null {
  return infoPlistStamps.every((s) => s === ABSENT) ? 'not installed' : null;
}

/** The fingerprint for this platform; null = cannot tell (Windows always: the registry needs `reg query`). */
export async function probeTeamViewer(ctx: TeamViewerContext): Promise<string | null> {
  try {
    if (ctx.platform === 'linux') return linuxFingerprint(await gatherLinuxProbe(ctx));
    if (ctx.platform === 'darwin') return macFingerprint(await Promise.all(MAC_BUNDLES.map((b) => hostFileStamp(underRoot(ctx.root, `${b.path}/Contents/Info.plist`)))));
    return null;
  } catch {
    return null;
  }
}

export interface LastDetection {
  /** The probe's fingerprint taken just before that detection. */
  fingerprint: string | null;
  /** Its detectedAt. */
  at: number;
}

export type DetectReason = 'first' | 'cannot tell' | 'changed' | 'safety bound';

/** Pure: why the next interval must run the full detection, or null to keep the facts as they are. */
export function fullDetectionReason(last: LastDetection | null, fingerprint: string | null, now: number, maxAgeMs: number): DetectReason | null {
  if (!last) return 'first';
  if (fingerprint === null || last.fingerprint === null) return 'cannot tell';
  if (fingerprint !== last.fingerprint) return 'changed';
  // A clock that went backwards is no proof of freshness either.
  if (now - last.at >= maxAgeMs || now < last.at) return 'safety bound';
  return null;
}
