// Child processes for the bench: any executable (node + script, or the single executable), the JSON
// event lines daemons print, and a bounded stop. Every wait has a deadline.
import { spawn, type ChildProcess } from 'node:child_process';

export interface Proc {
  child: ChildProcess;
  pid: number;
  output(): string;
  /** Resolves with the first stdout JSON line whose `event` matches. */
  waitForEvent<T = Record<string, unknown>>(event: string, timeoutMs: number): Promise<T>;
  stop(signal?: NodeJS.Signals, budgetMs?: number): Promise<void>;
}

/** Every child still running, so an interrupted bench (Ctrl-C) leaves no agent or server behind. */
const live = new Set<ChildProcess>();
export function killAllChildren(): void {
  for (const c of live) c.kill('SIGKILL');
}

/** An executable with its leading arguments, e.g. [node, build/src/cli/rmagent.js] or [dist/rmagent-linux-x64]. */
export type Launcher = readonly [string, ...string[]];

export function startProc(launcher: Launcher, args: readonly string[], env: NodeJS.ProcessEnv): Proc {
  const [file, ...lead] = launcher;
  const child = spawn(file, [...lead, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  live.add(child);
  child.once('exit', () => live.delete(child));
  let output = '';
  const lines: string[] = [];
  const waiters = new Set<(line: string) => void>();
  let partial = '';
  child.stdout!.setEncoding('utf8').on('data', (d: string) => {
    output = (output + d).slice(-100_000);
    partial += d;
    let nl: number;
    while ((nl = partial.indexOf('\n')) >= 0) {
      const line = partial.slice(0, nl).trim();
      partial = partial.slice(nl + 1);
      if (lines.length < 1000) lines.push(line);
      for (const w of waiters) w(line);
    }
  });
  child.stderr!.setEncoding('utf8').on('data', (d: string) => { output = (output + d).slice(-100_000); });
  child.on('error', (err) => { output += `\nspawn error: ${err.message}`; });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));

  const parse = (line: string, event: string): Record<string, unknown> | null => {
    if (!line.startsWith('{')) return null;
    try {
      const v = JSON.parse(line) as Record<string, unknown>;
      return v.event === event ? v : null;
    } catch {
      return null;
    }
  };

  return {
    child,
    pid: child.pid ?? -1,
    output: () => output,
    waitForEvent<T>(event: string, timeoutMs: number): Promise<T> {
      for (const l of lines) {
        const v = parse(l, event);
        if (v) return Promise.resolve(v as T);
      }
      return new Promise<T>((resolve, reject) => {
        const done = (fn: () => void) => { clearTimeout(timer); waiters.delete(onLine); fn(); };
        const onLine = (line: string) => {
          const v = parse(line, event);
          if (v) done(() => resolve(v as T));
        };
        const timer = setTimeout(() => done(() => reject(new Error(`no "${event}" within ${timeoutMs} ms from ${file}: ${output.slice(-2000)}`))), timeoutMs);
        waiters.add(onLine);
        void exited.then(() => done(() => reject(new Error(`${file} exited before "${event}": ${output.slice(-2000)}`))));
      });
    },
    async stop(signal = 'SIGTERM', budgetMs = 10_000) {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const timer = setTimeout(() => child.kill('SIGKILL'), budgetMs);
      child.kill(signal);
      await exited;
      clearTimeout(timer);
    },
  };
}

export interface Ran {
  code: number | null;
  stdout: string;
  stderr: string;
  ms: number;
}

export function runProc(launcher: Launcher, args: readonly string[], env: NodeJS.ProcessEnv, timeoutMs = 60_000): Promise<Ran> {
  const [file, ...lead] = launcher;
  const started = performance.now();
  return new Promise((resolve) => {
    const child = spawn(file, [...lead, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    live.add(child);
    child.once('exit', () => live.delete(child));
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => { stdout += d; });
    child.stderr.setEncoding('utf8').on('data', (d: string) => { stderr += d; });
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', (err) => { stderr += err.message; });
    child.on('close', (code) => { clearTimeout(timer); resolve({ code, stdout, stderr, ms: performance.now() - started }); });
  });
}
