// The one command runner: every external command the agent runs goes through here.
// No shell is ever involved, so nothing that came from the network can be interpolated into one.
import { execFile } from 'node:child_process';
import { delimiter } from 'node:path';

export interface CommandResult {
  /** Exit code; null when the command could not start or was killed. */
  code: number | null;
  stdout: string;
  stderr: string;
  /** Why the command did not run to completion: 'ENOENT', 'EACCES', 'TIMEOUT', ... */
  error?: string;
}

export interface RunOptions {
  timeoutMs?: number;
  env?: Record<string, string>;
  cwd?: string;
  maxBuffer?: number;
}

export interface CommandRunner {
  run(command: string, args: readonly string[], options?: RunOptions): Promise<CommandResult>;
}

/** `path` is searched before the inherited PATH (stand-in executables in tests, a vendor folder in production). */
export function createCommandRunner(defaults: { path?: string } = {}): CommandRunner {
  const searchPath = [defaults.path, process.env.PATH].filter(Boolean).join(delimiter);
  return {
    run(command, args, options = {}) {
      return new Promise((resolve) => {
        const env = { ...process.env, PATH: searchPath, ...options.env, LC_ALL: 'C' };
        execFile(
          command,
          [...args],
          { timeout: options.timeoutMs ?? 15_000, maxBuffer: options.maxBuffer ?? 16 * 1024 * 1024, env, cwd: options.cwd, windowsHide: true, encoding: 'utf8' },
          (err, stdout, stderr) => {
            if (!err) return resolve({ code: 0, stdout, stderr });
            const e = err as NodeJS.ErrnoException & { code?: string | number; killed?: boolean; signal?: string };
            if (typeof e.code === 'number') return resolve({ code: e.code, stdout, stderr });
            if (e.killed || e.signal) return resolve({ code: null, stdout, stderr, error: 'TIMEOUT' });
            resolve({ code: null, stdout, stderr, error: typeof e.code === 'string' ? e.code : e.message });
          },
        );
      });
    },
  };
}
