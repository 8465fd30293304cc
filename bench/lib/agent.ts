// One agent under test: its own temp state, enrolled with `rmagent enroll`, run with `rmagent run`,
// watched through its IPC status endpoint (the same one `rmagent status` uses).
import { mkdirSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { runProc, startProc, type Launcher, type Proc } from './child.js';
import { sleep } from './stats.js';

/**
 * How the agent is run: `node` the plain tsc build (build/src) on this machine's Node; `bundle` one esbuild
 * CommonJS file (build/bench/rmagent.cjs, made like the single executable's) on the same Node; `sea` the single
 * executable dist/rmagent-linux-x64; `bundle24` that bundle on the Node 24 runtime the single executable is made of.
 */
export type Flavour = 'node' | 'bundle' | 'sea' | 'bundle24';

export const FLAVOUR_LABEL: Record<Flavour, string> = {
  node: 'plain Node build',
  bundle: 'esbuild bundle, same Node',
  sea: 'single executable',
  bundle24: 'esbuild bundle on Node 24',
};

/** Which floor runtime a flavour runs on. */
export const FLAVOUR_RUNTIME: Record<Flavour, 'node' | 'seaNode'> = { node: 'node', bundle: 'node', sea: 'seaNode', bundle24: 'seaNode' };

export interface AgentStatusView {
  connection?: { state?: string };
  outbox?: { lastAckedSeq?: number; pending?: number };
  services?: Array<{ name: string; phase: string }>;
  registration?: { deviceId?: string | null };
}

export interface AgentHome {
  dir: string;
  stateDir: string;
  logDir: string;
  ipcPath: string;
  env: NodeJS.ProcessEnv;
}

export function agentLauncher(root: string, flavour: Flavour, runtimes: { sea: string | null; seaNode: string | null }): Launcher {
  // To profile the agent under a benchmark: BENCH_AGENT_NODE_ARGS="--cpu-prof --cpu-prof-dir=/tmp/prof" (not the single executable).
  const extra = process.env.BENCH_AGENT_NODE_ARGS?.split(' ').filter(Boolean) ?? [];
  const bundle = path.join(root, 'build/bench/rmagent.cjs');
  switch (flavour) {
    case 'sea':
      if (!runtimes.sea) throw new Error('single executable not built');
      return [runtimes.sea];
    case 'bundle24':
      if (!runtimes.seaNode) throw new Error('Node 24 runtime not available');
      return [runtimes.seaNode, ...extra, bundle];
    case 'bundle':
      return [process.execPath, ...extra, bundle];
    default:
      return [process.execPath, ...extra, path.join(root, 'build/src/cli/rmagent.js')];
  }
}

/** The flavours this machine can run, in table order; quick runs keep the plain build and the single executable (or its stand-in). */
export function flavoursOf(runtimes: { sea: string | null; seaNode: string | null }, quick = false): Flavour[] {
  if (quick) return ['node', ...(runtimes.sea ? ['sea' as const] : runtimes.seaNode ? ['bundle24' as const] : [])];
  return ['node', 'bundle', ...(runtimes.sea ? ['sea' as const] : []), ...(runtimes.seaNode ? ['bundle24' as const] : [])];
}

/** A fresh agent home: state, logs, no config file, no TeamViewer needed, a fixed machine id. */
export function agentHome(work: string, name: string, extraEnv: NodeJS.ProcessEnv = {}): AgentHome {
  const dir = path.join(work, name);
  const stateDir = path.join(dir, 'state');
  const logDir = path.join(dir, 'logs');
  mkdirSync(dir, { recursive: true });
  mkdirSync(path.join(dir, 'teamviewer-root'), { recursive: true });
  // An empty config file of its own, so no machine-wide /etc/rmagent/config.json is read.
  writeFileSync(path.join(dir, 'config.json'), '{}\n');
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    HOME: dir,
    RMAGENT_CONFIG: path.join(dir, 'config.json'),
    RMAGENT_STATE_DIR: stateDir,
    RMAGENT_LOG_DIR: logDir,
    RMAGENT_LOG_LEVEL: 'warn',
    RMAGENT_TEAMVIEWER_REQUIRED: 'false',
    RMAGENT_TEAMVIEWER_ROOT: path.join(dir, 'teamviewer-root'),
    RMAGENT_MACHINE_ID: `bench-${name}`,
    ...extraEnv,
  };
  return { dir, stateDir, logDir, ipcPath: path.join(stateDir, 'rmagent.sock'), env };
}

export async function enroll(launcher: Launcher, home: AgentHome, server: { agentUrl: string; serverKey: string; token: string }): Promise<void> {
  const r = await runProc(launcher, ['enroll', '--server', server.agentUrl, '--token', server.token, '--server-key', server.serverKey, '--state-dir', home.stateDir], home.env, 60_000);
  if (r.code !== 0) throw new Error(`rmagent enroll exited ${r.code}: ${(r.stdout + r.stderr).slice(-1500)}`);
}

export function runAgent(launcher: Launcher, home: AgentHome): Proc {
  return startProc(launcher, ['run', '--state-dir', home.stateDir, '--log-dir', home.logDir], home.env);
}

/** One IPC status request; null when the agent does not answer (yet). */
export function ipcStatus(ipcPath: string, timeoutMs = 2_000): Promise<AgentStatusView | null> {
  return new Promise((resolve) => {
    const socket = net.connect(ipcPath);
    let buffer = '';
    const finish = (v: AgentStatusView | null) => { clearTimeout(timer); socket.destroy(); resolve(v); };
    const timer = setTimeout(() => finish(null), timeoutMs);
    socket.setEncoding('utf8');
    socket.on('connect', () => socket.write('{"method":"status"}\n'));
    socket.on('data', (d: string) => { buffer += d; });
    socket.on('end', () => {
      try {
        finish((JSON.parse(buffer) as { status?: AgentStatusView }).status ?? null);
      } catch {
        finish(null);
      }
    });
    socket.on('error', () => finish(null));
  });
}

/** Polls the IPC status every `everyMs` until `test` holds; returns ms since `since` (performance.now()). */
export async function pollStatus(ipcPath: string, test: (s: AgentStatusView) => boolean, since: number, timeoutMs: number, everyMs = 5): Promise<number> {
  const deadline = performance.now() + timeoutMs;
  while (performance.now() < deadline) {
    const s = await ipcStatus(ipcPath, 1_000);
    if (s && test(s)) return performance.now() - since;
    await sleep(everyMs);
  }
  throw new Error(`agent status did not reach the wanted state within ${timeoutMs} ms (${ipcPath})`);
}

export const isConnected = (s: AgentStatusView) => s.connection?.state === 'connected';
export const firstReportAcked = (s: AgentStatusView) => (s.outbox?.lastAckedSeq ?? 0) >= 1;
