// What every TeamViewer strategy is handed: where the host's files are (root), which OS layout to read,
// the one command runner and the clock. Paths below are host paths; `underRoot` maps them into root.
import path from 'node:path';
import type { CommandResult, CommandRunner } from '../system/exec.js';

export type TeamViewerPlatform = 'linux' | 'win32' | 'darwin';

export interface TeamViewerContext {
  root: string;
  platform: TeamViewerPlatform;
  runner: CommandRunner;
  now(): number;
}

/** `/opt/teamviewer` under root `/tmp/x` is `/tmp/x/opt/teamviewer`; root `/` leaves it as is. */
export function underRoot(root: string, hostPath: string): string {
  return path.join(root, hostPath);
}

/**
 * `C:\Program Files\TeamViewer` under a root folder is `<root>/C/Program Files/TeamViewer`. On a real Windows
 * host (root `/` or a drive root such as `C:\`) the Windows path is used as it is.
 */
export function windowsPathUnderRoot(root: string, windowsPath: string): string {
  const m = /^([A-Za-z]):[\\/]*(.*)$/.exec(windowsPath.trim());
  if (!m) return path.join(root, windowsPath.replace(/\\/g, '/'));
  if (root === '/' || /^[A-Za-z]:[\\/]?$/.test(root)) return windowsPath.trim();
  return path.join(root, m[1]!.toUpperCase(), ...m[2]!.split(/[\\/]+/).filter(Boolean));
}

/** The command is not there at all (not installed, not on PATH): its answer is unknown, not negative. */
export function commandMissing(result: CommandResult): boolean {
  return result.error === 'ENOENT' || result.code === 127;
}

export const COMMAND_TIMEOUT_MS = 10_000;
