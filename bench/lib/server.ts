// The reference management server as a child process, with its owner API.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { startProc, type Launcher, type Proc } from './child.js';

export interface RunningServer {
  proc: Proc;
  httpUrl: string;
  agentUrl: string;
  dataDir: string;
  serverKey: string;
  api<T>(method: string, route: string, body?: unknown): Promise<T>;
  stop(): Promise<void>;
}

export function serverLauncher(root: string): Launcher {
  return [process.execPath, path.join(root, 'build/src/cli/rmagent-server.js')];
}

export async function startServer(root: string, dataDir: string, extraArgs: string[] = []): Promise<RunningServer> {
  const proc = startProc(serverLauncher(root), ['--listen', '127.0.0.1:0', '--data', dataDir, '--log-level', 'error', ...extraArgs], process.env);
  try {
    const { httpUrl, agentUrl } = await proc.waitForEvent<{ httpUrl: string; agentUrl: string }>('listening', 20_000);
    const owner = readFileSync(path.join(dataDir, 'owner.token'), 'utf8').trim();
    const serverKey = readFileSync(path.join(dataDir, 'server-key.pub'), 'utf8').trim();
    const api = async <T>(method: string, route: string, body?: unknown): Promise<T> => {
      const res = await fetch(`${httpUrl}/api/v1${route}`, {
        method,
        headers: { authorization: `Bearer ${owner}`, 'content-type': 'application/json' },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        signal: AbortSignal.timeout(15_000),
      });
      const json = (await res.json()) as T & { error?: { code: string; message: string } };
      if (!res.ok) throw new Error(`${method} ${route}: ${res.status} ${json.error?.code ?? ''} ${json.error?.message ?? ''}`);
      return json;
    };
    return { proc, httpUrl, agentUrl, dataDir, serverKey, api, stop: () => proc.stop() };
  } catch (err) {
    await proc.stop();
    throw err;
  }
}

/** A Monitoring policy whose checks all run every 60 s (the idle-footprint scenario of issue 6). */
export const MONITORING_60S = {
  name: 'bench monitoring 60s',
  service: 'monitoring',
  settings: {
    checks: [
      { type: 'cpu', id: 'cpu', threshold: 90, durationSec: 300, intervalSec: 60 },
      { type: 'memory', id: 'memory', threshold: 90, intervalSec: 60 },
      { type: 'disk', id: 'disk', threshold: 90, intervalSec: 60 },
    ],
  },
};

/** The same policy as the bench peer assigns it in a signed `policy.assign` (no server in between). */
export const MONITORING_60S_ASSIGNED = { id: 'pol-bench-monitoring', name: MONITORING_60S.name, service: 'monitoring' as const, version: 1, settings: MONITORING_60S.settings };
