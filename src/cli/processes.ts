// Child processes of our own executables, for the demo (`npm start`) and the end-to-end tests:
// spawn, read the one JSON line a daemon prints when ready, run a command to completion, stop with a bound.
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';

export interface Spawned {
  child: ChildProcess;
  /** Everything printed so far, for diagnostics. */
  output(): string;
  stop(signal?: NodeJS.Signals, budgetMs?: number): Promise<number | null>;
}

/** The built CLI scripts next to this file (build/src/cli/). */
export function cliScript(name: 'rmagent' | 'rmagent-server', dir = path.dirname(process.argv[1] ?? '.')): string {
  return path.join(dir, `${name}.js`);
}

export function spawnNode(script: string, args: string[], env: NodeJS.ProcessEnv = process.env): Spawned {
  const child = spawn(process.execPath, [script, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout!.setEncoding('utf8').on('data', (d: string) => { output = (output + d).slice(-200_000); });
  child.stderr!.setEncoding('utf8').on('data', (d: string) => { output = (output + d).slice(-200_000); });
  return {
    child,
    output: () => output,
    stop: (signal = 'SIGTERM', budgetMs = 15_000) =>
      new Promise((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) return resolve(child.exitCode);
        const timer = setTimeout(() => child.kill('SIGKILL'), budgetMs);
        child.once('exit', (code) => { clearTimeout(timer); resolve(code); });
        child.kill(signal);
      }),
  };
}

/** Resolves with the first stdout line that parses as JSON with the wanted `event`. */
export function waitForEvent<T = Record<string, unknown>>(proc: Spawned, event: string, timeoutMs = 20_000): Promise<T> {
  return new Promise((resolve, reject) => {
    let buffer = '';
    const timer = setTimeout(() => fail(new Error(`no "${event}" line within ${timeoutMs} ms; output:\n${proc.output()}`)), timeoutMs);
    const onData = (d: string) => {
      buffer += d;
      let nl: number;
      while ((nl = buffer.indexOf('\n')) >= 0) {
        const line = buffer.slice(0, nl).trim();
        buffer = buffer.slice(nl + 1);
        if (!line.startsWith('{')) continue;
        try {
          const value = JSON.parse(line) as { event?: string };
          if (value.event === event) return done(value as T);
        } catch {
          /* not our line */
        }
      }
    };
    const onExit = (code: number | null) => fail(new Error(`process exited (${code}) before "${event}"; output:\n${proc.output()}`));
    const cleanup = () => { clearTimeout(timer); proc.child.stdout!.off('data', onData); proc.child.off('exit', onExit); };
    const done = (v: T) => { cleanup(); resolve(v); };
    const fail = (e: Error) => { cleanup(); reject(e); };
    proc.child.stdout!.on('data', onData);
    proc.child.once('exit', onExit);
  });
}

export interface Completed {
  code: number | null;
  stdout: string;
  stderr: string;
}

export function runNode(script: string, args: string[], env: NodeJS.ProcessEnv = process.env, timeoutMs = 30_000): Promise<Completed> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [script, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => { stdout += d; });
    child.stderr.setEncoding('utf8').on('data', (d: string) => { stderr += d; });
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('close', (code) => { clearTimeout(timer); resolve({ code, stdout, stderr }); });
  });
}

/** Polls `check` until it returns a value, at most `timeoutMs`. */
export async function waitUntil<T>(check: () => Promise<T | undefined | null | false>, timeoutMs: number, what: string, everyMs = 100): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const v = await check();
      if (v) return v;
    } catch (err) {
      last = err;
    }
    await new Promise((r) => setTimeout(r, everyMs));
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${String(last)}` : ''}`);
}
