// Opens a TeamViewer fixture case (test/fixtures/teamviewer/<os>/<case>/): its root tree and stand-in
// executables generated from its commands.json, first on the runner's PATH. Fixtures stay read-only:
// pass { copy: true } to get a private copy of the root tree to change.
import { chmod, cp, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createCommandRunner } from '../../src/system/exec.js';
import type { TeamViewerContext, TeamViewerPlatform } from '../../src/teamviewer/index.js';

export const FIXTURES = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../fixtures/teamviewer');
export const DETECTED_AT = 1_700_000_000_000;

export type FixtureOs = 'linux' | 'windows' | 'macos';
const PLATFORM: Record<FixtureOs, TeamViewerPlatform> = { linux: 'linux', windows: 'win32', macos: 'darwin' };
// Every command a strategy may run gets a stand-in, so the machine's own dpkg/systemctl never answer.
const COMMANDS: Record<FixtureOs, string[]> = { linux: ['teamviewer', 'dpkg', 'rpm', 'systemctl'], windows: ['reg', 'sc'], macos: ['plutil', 'launchctl'] };

/** One answer: `args` is a sh case pattern over "$*" where `*` is a wildcard and everything else is literal. */
export interface StandInAnswer {
  args: string;
  stdout?: string;
  stdoutText?: string;
  stderr?: string;
  exit?: number;
}

export interface OpenedCase {
  dir: string;
  root: string;
  bin: string;
  ctx: TeamViewerContext;
  cleanup(): Promise<void>;
}

const quote = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
const pattern = (p: string) => p.split('*').map((part) => (part ? quote(part) : '')).join('*');

export function standInScript(name: string, answers: StandInAnswer[], caseDir: string): string {
  const lines = ['#!/bin/sh', 'case "$*" in'];
  for (const a of answers) {
    const body: string[] = [];
    if (a.stdout) body.push(`cat ${quote(path.join(caseDir, a.stdout))}`);
    if (a.stdoutText !== undefined) body.push(`printf '%s\\n' ${quote(a.stdoutText)}`);
    if (a.stderr) body.push(`printf '%s\\n' ${quote(a.stderr)} >&2`);
    body.push(`exit ${a.exit ?? 0}`);
    lines.push(`  ${pattern(a.args) || "''"}) ${body.join('; ')} ;;`);
  }
  lines.push(`  *) echo ${quote(`${name} (stand-in): unexpected arguments:`)} "$*" >&2; exit 2 ;;`, 'esac', '');
  return lines.join('\n');
}

export async function writeStandIn(bin: string, name: string, script: string): Promise<void> {
  await mkdir(bin, { recursive: true });
  await writeFile(path.join(bin, name), script);
  await chmod(path.join(bin, name), 0o755);
}

export async function openCase(os: FixtureOs, name: string, opts: { copy?: boolean } = {}): Promise<OpenedCase> {
  const caseDir = path.join(FIXTURES, os, name);
  const dir = await mkdtemp(path.join(tmpdir(), 'rmagent-tv-'));
  const root = opts.copy ? path.join(dir, 'root') : path.join(caseDir, 'root');
  if (opts.copy) await cp(path.join(caseDir, 'root'), root, { recursive: true });
  const bin = path.join(dir, 'bin');
  const spec = JSON.parse(await readFile(path.join(caseDir, 'commands.json'), 'utf8')) as Record<string, StandInAnswer[]>;
  for (const command of new Set([...COMMANDS[os], ...Object.keys(spec)])) {
    const answers = spec[command];
    await writeStandIn(bin, command, answers ? standInScript(command, answers, caseDir) : `#!/bin/sh\necho "${command}: not found" >&2\nexit 127\n`);
  }
  return {
    dir,
    root,
    bin,
    ctx: { root, platform: PLATFORM[os], runner: createCommandRunner({ path: bin }), now: () => DETECTED_AT },
    cleanup: () => rm(dir, { recursive: true, force: true }),
  };
}
