// A simulated TeamViewer Host for the demo and end-to-end tests on a machine without TeamViewer:
// the Linux layout under a root folder plus stand-in `teamviewer`, `dpkg` and `systemctl` commands that
// answer for TeamViewer and hand every other question to the real command.
import { fsAsync } from '../system/fs-async.js';

const { mkdir, writeFile, chmod, rm } = fsAsync;
import path from 'node:path';

export interface SimulatedTeamViewer {
  /** Pass as teamviewer.root. */
  root: string;
  /** Put first on the command runner's PATH (teamviewer.path). */
  binDir: string;
  teamviewerId: string;
  version: string;
  /** Uninstall (the agent notices on its next detection). */
  remove(): Promise<void>;
}

const script = (body: string) => `#!/bin/sh\n${body}\n`;

// Stand-ins defer to the real tool for anything that is not about TeamViewer.
const passThrough = (tool: string) => `for d in /usr/bin /bin /usr/sbin /sbin; do [ -x "$d/${tool}" ] && exec "$d/${tool}" "$@"; done\nexit 127`;

export async function simulateTeamViewerHost(dir: string, opts: { teamviewerId?: string; version?: string } = {}): Promise<SimulatedTeamViewer> {
  const teamviewerId = opts.teamviewerId ?? '1234567890';
  const version = opts.version ?? '15.60.3';
  const root = path.join(dir, 'root');
  const binDir = path.join(dir, 'bin');
  const state = path.join(dir, 'installed');
  await mkdir(path.join(root, 'opt/teamviewer/tv_bin'), { recursive: true });
  await mkdir(path.join(root, 'opt/teamviewer/config'), { recursive: true });
  await mkdir(binDir, { recursive: true });
  await writeFile(path.join(root, 'opt/teamviewer/tv_bin/teamviewerd'), script('exit 0'), { mode: 0o755 });
  await writeFile(path.join(root, 'opt/teamviewer/config/global.conf'), `[int32] ClientID = ${teamviewerId}\n[strng] Version = "${version}"\n`, { mode: 0o600 });
  await writeFile(state, 'yes\n');
  const installed = `[ -f "${state}" ]`;
  const tools: Record<string, string> = {
    teamviewer: [
      `${installed} || { echo "teamviewer: not found" >&2; exit 127; }`,
      'case "$1" in',
      `  info) printf ' TeamViewer  ${version}  (DEB)\\n\\n TeamViewer ID:  ${teamviewerId}\\n' ;;`,
      '  assignment) echo "assignment ok"; exit 0 ;;',
      '  *) echo "usage: teamviewer info"; exit 1 ;;',
      'esac',
    ].join('\n'),
    dpkg: [
      `if [ "$1" = "-s" ] && [ "$2" = "--" ] && [ "$3" = "teamviewer-host" ]; then`,
      `  ${installed} && { printf 'Package: teamviewer-host\\nStatus: install ok installed\\nVersion: ${version}\\n'; exit 0; }`,
      `  echo "dpkg-query: package 'teamviewer-host' is not installed" >&2; exit 1`,
      'fi',
      `if [ "$1" = "-s" ] && [ "$2" = "--" ] && [ "$3" = "teamviewer" ]; then echo "dpkg-query: package 'teamviewer' is not installed" >&2; exit 1; fi`,
      passThrough('dpkg'),
    ].join('\n'),
    systemctl: [
      `if [ "$1" = "is-active" ] && [ "$2" = "--" ] && [ "$3" = "teamviewerd" ]; then ${installed} && { echo active; exit 0; }; echo inactive; exit 3; fi`,
      passThrough('systemctl'),
    ].join('\n'),
  };
  for (const [name, body] of Object.entries(tools)) {
    await writeFile(path.join(binDir, name), script(body));
    await chmod(path.join(binDir, name), 0o755);
  }
  return {
    root,
    binDir,
    teamviewerId,
    version,
    async remove() {
      await rm(state, { force: true });
      await rm(path.join(root, 'opt/teamviewer'), { recursive: true, force: true });
    },
  };
}
