// End-to-end harness: the built `rmagent-server` and `rmagent` as real child processes on loopback,
// each agent in its own temporary state folder with a simulated TeamViewer Host.
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { runNode, spawnNode, waitForEvent, waitUntil, type Spawned } from '../../src/cli/processes.js';
import { requestLocal } from '../../src/system/local-socket.js';
import { statusSchema, type AgentStatus } from '../../src/agent/status.js';
import { simulateTeamViewerHost, type SimulatedTeamViewer } from '../../src/cli/simulated-teamviewer.js';

const BUILD = path.resolve(__dirname, '../../build/src/cli');
export const AGENT_JS = path.join(BUILD, 'rmagent.js');
export const SERVER_JS = path.join(BUILD, 'rmagent-server.js');

export function assertBuilt(): void {
  if (!existsSync(AGENT_JS) || !existsSync(SERVER_JS)) throw new Error('run `npm run build` first (npm test does it)');
}

export function tempDir(prefix: string): string {
  return mkdtempSync(path.join(tmpdir(), `rmagent-${prefix}-`));
}

export interface ServerProcess {
  proc: Spawned;
  httpUrl: string;
  agentUrl: string;
  port: number;
  dataDir: string;
  ownerToken: string;
  serverKey: string;
  api<T = Record<string, unknown>>(method: string, route: string, body?: unknown, token?: string): Promise<{ status: number; body: T }>;
  stop(): Promise<number | null>;
}

export async function startServer(dataDir: string, port = 0, extraArgs: string[] = []): Promise<ServerProcess> {
  const proc = spawnNode(SERVER_JS, ['--listen', `127.0.0.1:${port}`, '--data', dataDir, '--heartbeat-sec', '2', '--log-level', 'warn', ...extraArgs]);
  const listening = await waitForEvent<{ httpUrl: string; agentUrl: string; port: number }>(proc, 'listening');
  const ownerToken = readFileSync(path.join(dataDir, 'owner.token'), 'utf8').trim();
  const serverKey = readFileSync(path.join(dataDir, 'server-key.pub'), 'utf8').trim();
  return {
    proc,
    ...listening,
    dataDir,
    ownerToken,
    serverKey,
    async api(method, route, body, token = ownerToken) {
      const res = await fetch(`${listening.httpUrl}/api/v1${route}`, {
        method,
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
      return { status: res.status, body: (await res.json()) as never };
    },
    stop: () => proc.stop('SIGTERM'),
  };
}

export interface AgentHome {
  dir: string;
  stateDir: string;
  logDir: string;
  teamviewer: SimulatedTeamViewer;
  env: NodeJS.ProcessEnv;
  cli(...args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }>;
  statusJson(): Promise<{ code: number | null; status: AgentStatus }>;
  /** Status straight from the daemon's local endpoint (no process start). */
  live(): Promise<AgentStatus | null>;
  waitFor(what: string, predicate: (s: AgentStatus) => boolean, timeoutMs?: number): Promise<AgentStatus>;
  start(): Promise<Spawned>;
}

export async function agentHome(name: string, extraEnv: NodeJS.ProcessEnv = {}): Promise<AgentHome> {
  const dir = tempDir(name);
  const stateDir = path.join(dir, 'state');
  const logDir = path.join(dir, 'logs');
  const teamviewer = await simulateTeamViewerHost(path.join(dir, 'teamviewer'));
  // An explicit (empty) config file, so a config installed on this machine by a package test never leaks in.
  writeFileSync(path.join(dir, 'config.json'), '{}\n');
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    RMAGENT_CONFIG: path.join(dir, 'config.json'),
    RMAGENT_STATE_DIR: stateDir,
    RMAGENT_LOG_DIR: logDir,
    RMAGENT_MACHINE_ID: `machine-${name}`,
    RMAGENT_TEAMVIEWER_ROOT: teamviewer.root,
    RMAGENT_TEAMVIEWER_PATH: teamviewer.binDir,
    RMAGENT_TEAMVIEWER_PLATFORM: 'linux',
    RMAGENT_DETECT_INTERVAL_SEC: '5',
    RMAGENT_HEARTBEAT_SEC: '2',
    RMAGENT_BACKOFF_BASE_MS: '100',
    RMAGENT_BACKOFF_MAX_MS: '1000',
    RMAGENT_STATUS_INTERVAL_SEC: '5',
    ...extraEnv,
  };
  const ipcPath = path.join(stateDir, 'rmagent.sock');
  const home: AgentHome = {
    dir,
    stateDir,
    logDir,
    teamviewer,
    env,
    cli: (...args) => runNode(AGENT_JS, args, env),
    async statusJson() {
      const r = await home.cli('status', '--json');
      return { code: r.code, status: statusSchema().parse(JSON.parse(r.stdout)) };
    },
    async live() {
      const a = await requestLocal(ipcPath, { method: 'status' }, 2_000);
      if (!a.ok) return null;
      return statusSchema().parse((a.value as { status: unknown }).status);
    },
    waitFor: (what, predicate, timeoutMs = 20_000) =>
      waitUntil(async () => {
        const s = await home.live();
        return s && predicate(s) ? s : undefined;
      }, timeoutMs, what),
    async start() {
      const proc = spawnNode(AGENT_JS, ['run'], env);
      await waitForEvent(proc, 'started');
      return proc;
    },
  };
  return home;
}
