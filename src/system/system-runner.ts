// Changes the agent makes to the machine (patch installs, package index refreshes, restores outside its own
// folders) run OUTSIDE the agent's sandbox and cgroup. Under systemd each one is a transient service
// (`systemd-run --wait --collect`) with its own limits: it sees the real /usr and /var/lib/dpkg (the agent's unit
// has ProtectSystem=strict), does not inherit the agent's MemoryMax/CPUQuota, and keeps running when the agent
// restarts (an upgrade of rmagent itself by apt restarts the agent's unit, not the transient one). Its output goes
// to a file in the agent's state folder rather than through a pipe, which would break (SIGPIPE) with the agent.
// Elsewhere (macOS launchd, the Windows service, no systemd) the command runs as a plain child: docs/deployment.md
// "Changes to the machine" says what that means on each platform.
// Users: Patch Management (installs, index refreshes). Backup's snapshot and restore jobs with a destination or
// target outside the agent's state folder are to run the same way, as `changes.run({ purpose: 'backup-restore',
// command: <this rmagent executable>, args: ['backup-job', '--job', <job file in the state folder>], timeoutMs })`,
// reading the job's result from a file it writes (the agent's composition root builds one runner, agent.ts).
import { randomBytes } from 'node:crypto';
import { fsAsync as fs } from './fs-async.js';
import path from 'node:path';
import type { CommandResult, CommandRunner, RunOptions } from './exec.js';
import { ensureDir, removeFile } from './files.js';

export interface SystemChange {
  /** What the change is, for the unit's name and description: `patch-install`, `backup-restore`... */
  purpose: string;
  command: string;
  args: readonly string[];
  env?: Record<string, string>;
  /** The change's own bound; the transient unit is stopped when it runs out (RuntimeMaxSec). */
  timeoutMs: number;
  /** Further unit properties for this change (e.g. MemoryMax=512M for a backup job); systemd only. */
  properties?: readonly string[];
}

export interface SystemChangeRunner {
  /** 'systemd' (a transient unit) or 'child' (a plain child process of the agent). */
  kind(): Promise<'systemd' | 'child'>;
  run(change: SystemChange): Promise<CommandResult>;
}

// The transient unit's own limits: below the desktop's work (weights, nice, idle-ish I/O), never unbounded.
export const TRANSIENT_UNIT_PROPERTIES = ['CPUWeight=50', 'IOWeight=50', 'Nice=10', 'MemoryHigh=2G', 'TasksMax=1024', 'KillMode=mixed', 'TimeoutStopSec=120'];

/**
 * The change's own result from what `systemd-run --wait` prints on stderr when the unit ends ("Main processes
 * terminated with: code=exited/status=7"): systemd-run's own exit code is only 0 or 1. Pure.
 */
export function transientUnitResult(runExit: number | null, stderr: string): { code: number | null; error?: string } {
  const exited = /code=exited\/status=(\d+)/.exec(stderr);
  if (exited) return { code: Number(exited[1]) };
  const killed = /code=(killed|dumped)\/status=([A-Z0-9]+)/.exec(stderr);
  if (killed) return { code: null, error: /Finished with result: timeout/.test(stderr) ? 'TIMEOUT' : `SIG${killed[2]!.replace(/^SIG/, '')}` };
  if (runExit === 0) return { code: 0 };
  return { code: null, error: `systemd-run failed: ${stderr.trim().split('\n').slice(-2).join(' ').slice(0, 300) || `exit ${runExit}`}` };
}

/** The transient unit's name: rmagent-<purpose>-<random>.service (systemd unit-name characters only). Pure. */
export function transientUnitName(purpose: string, random: string): string {
  return `rmagent-${purpose.replace(/[^A-Za-z0-9_-]/g, '_').slice(0, 40)}-${random}.service`;
}

/** systemd-run's arguments for one change. Each value is one argv element: no shell anywhere. Pure. */
export function systemdRunArgs(change: SystemChange, unit: string, outputFile: string): string[] {
  const args = ['--wait', '--collect', '--service-type=exec', `--unit=${unit}`, `--description=rmagent ${change.purpose}`];
  for (const p of [...TRANSIENT_UNIT_PROPERTIES, ...(change.properties ?? []), `RuntimeMaxSec=${Math.max(1, Math.ceil(change.timeoutMs / 1000))}`, `StandardOutput=file:${outputFile}`, 'StandardError=inherit', 'StandardInput=null']) {
    args.push('--property', p);
  }
  for (const [k, v] of Object.entries(change.env ?? {})) args.push('--setenv', `${k}=${v}`);
  args.push('--', change.command, ...change.args);
  return args;
}

/** systemd is the service manager of this machine (sd_booted()'s test). */
export async function systemdIsRunning(): Promise<boolean> {
  return fs.stat('/run/systemd/system').then((s) => s.isDirectory(), () => false);
}

export interface SystemRunnerDeps {
  runner: CommandRunner;
  /** Where the transient units' output files live (a folder of the agent's state). */
  workDir: string;
  /** Is systemd the service manager here? 'detect': ask at the first change (systemdIsRunning). */
  systemd: boolean | 'detect';
}

/** Reads at most `max` bytes from the end of `file`. */
async function tail(file: string, max = 256 * 1024): Promise<string> {
  const handle = await fs.open(file, 'r').catch(() => null);
  if (!handle) return '';
  try {
    const { size } = await handle.stat();
    const length = Math.min(size, max);
    const buffer = Buffer.alloc(length);
    await handle.read(buffer, 0, length, size - length);
    return buffer.toString('utf8');
  } finally {
    await handle.close();
  }
}

export function createSystemRunner(deps: SystemRunnerDeps): SystemChangeRunner {
  let systemd: Promise<boolean> | undefined = deps.systemd === 'detect' ? undefined : Promise.resolve(deps.systemd);
  const kindNow = async () => ((await (systemd ??= systemdIsRunning())) ? 'systemd' : 'child') as 'systemd' | 'child';
  const asChild = (change: SystemChange) => deps.runner.run(change.command, change.args, { timeoutMs: change.timeoutMs, maxBuffer: 64 * 1024 * 1024, ...(change.env ? { env: change.env } : {}) });
  return {
    kind: kindNow,
    async run(change) {
      if ((await kindNow()) === 'child') return asChild(change);
      await ensureDir(deps.workDir);
      const unit = transientUnitName(change.purpose, randomBytes(4).toString('hex'));
      const outputFile = path.join(deps.workDir, `${unit}.log`);
      // systemd-run itself waits for the unit; a little longer than the unit's own bound.
      const options: RunOptions = { timeoutMs: change.timeoutMs + 180_000 };
      const result = await deps.runner.run('systemd-run', systemdRunArgs(change, unit, outputFile), options);
      const stdout = await tail(outputFile);
      await removeFile(outputFile);
      if (result.error === 'ENOENT') return { ...result, stdout };
      const outcome = transientUnitResult(result.code, result.stderr);
      return { code: outcome.code, stdout, stderr: result.stderr, ...(outcome.error ? { error: outcome.error } : {}) };
    },
  };
}
