// The common scene: a reference server, an enrollment token, agents enrolled and connected to it.
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { agentHome, agentLauncher, enroll, ipcStatus, isConnected, pollStatus, runAgent, type AgentHome, type Flavour } from './agent.js';
import type { Proc } from './child.js';
import type { BenchContext } from './context.js';
import { MONITORING_60S, startServer, type RunningServer } from './server.js';

export async function benchServer(ctx: BenchContext, name: string, extraArgs: string[] = []): Promise<RunningServer> {
  return startServer(ctx.root, path.join(ctx.work, name), extraArgs);
}

export async function newToken(server: RunningServer, maxUses = 1000): Promise<string> {
  const { token } = await server.api<{ token: string }>('POST', '/enrollment-tokens', { expiresInSec: 3600, maxUses });
  return token;
}

export interface ConnectedAgent {
  home: AgentHome;
  proc: Proc;
  deviceId: string;
  /** ms from spawn to IPC status "connected". */
  connectedMs: number;
}

export async function connectAgent(ctx: BenchContext, server: RunningServer, flavour: Flavour, name: string, extraEnv: NodeJS.ProcessEnv = {}): Promise<ConnectedAgent> {
  const launcher = agentLauncher(ctx.root, flavour, ctx.runtimes);
  const home = agentHome(ctx.work, name, extraEnv);
  await enroll(launcher, home, { agentUrl: server.agentUrl, serverKey: server.serverKey, token: await newToken(server) });
  const t0 = performance.now();
  const proc = runAgent(launcher, home);
  try {
    const connectedMs = await pollStatus(home.ipcPath, isConnected, t0, 30_000, 20);
    const deviceId = (await ipcStatus(home.ipcPath))?.registration?.deviceId ?? (await registeredDeviceId(home.stateDir));
    if (!deviceId) throw new Error('connected agent has no device id (status nor registration.json)');
    return { home, proc, deviceId, connectedMs };
  } catch (err) {
    await proc.stop('SIGKILL');
    throw new Error(`${(err as Error).message}\n${proc.output().slice(-1500)}`, { cause: err });
  }
}

/** Activates Monitoring (checks every 60 s) on the devices and waits until each agent runs it. */
export async function activateMonitoring(server: RunningServer, agents: ConnectedAgent[], timeoutMs = 30_000): Promise<void> {
  const policy = await server.api<{ id: string }>('POST', '/policies', MONITORING_60S);
  await server.api('POST', '/services/monitoring/activate', { deviceIds: agents.map((a) => a.deviceId), policyId: policy.id });
  await Promise.all(
    agents.map((a) => pollStatus(a.home.ipcPath, (s) => (s.services ?? []).some((x) => x.name === 'monitoring' && x.phase === 'running'), performance.now(), timeoutMs, 100)),
  );
}

// The daemon's status may show the device id only after its next registration reload; the file has it at once.
async function registeredDeviceId(stateDir: string): Promise<string | null> {
  for (let i = 0; i < 50; i++) {
    try {
      const id = (JSON.parse(await readFile(path.join(stateDir, 'registration.json'), 'utf8')) as { deviceId?: string | null }).deviceId;
      if (id) return id;
    } catch {
      /* being written */
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return null;
}
