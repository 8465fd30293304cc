// The reference management server as a child process, with its owner API.
import { readFileSync } from 'node:fs';
import https from 'node:https';
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

/** With `tls`, the server serves HTTPS and wss:// with that certificate, and the API is called trusting `tls.caFile`. */
export async function startServer(root: string, dataDir: string, extraArgs: string[] = [], tls?: { certFile: string; keyFile: string; caFile: string }): Promise<RunningServer> {
  const tlsArgs = tls ? ['--tls-cert', tls.certFile, '--tls-key', tls.keyFile] : [];
  const proc = startProc(serverLauncher(root), ['--listen', '127.0.0.1:0', '--data', dataDir, '--log-level', 'error', ...tlsArgs, ...extraArgs], process.env);
  try {
    const { httpUrl, agentUrl } = await proc.waitForEvent<{ httpUrl: string; agentUrl: string }>('listening', 20_000);
    const owner = readFileSync(path.join(dataDir, 'owner.token'), 'utf8').trim();
    const serverKey = readFileSync(path.join(dataDir, 'server-key.pub'), 'utf8').trim();
    const ca = tls ? readFileSync(tls.caFile) : undefined;
    const api = async <T>(method: string, route: string, body?: unknown): Promise<T> => {
      const { status, text } = await request(`${httpUrl}/api/v1${route}`, method, owner, body, ca);
      const json = JSON.parse(text) as T & { error?: { code: string; message: string } };
      if (status < 200 || status > 299) throw new Error(`${method} ${route}: ${status} ${json.error?.code ?? ''} ${json.error?.message ?? ''}`);
      return json;
    };
    return { proc, httpUrl, agentUrl, dataDir, serverKey, api, stop: () => proc.stop() };
  } catch (err) {
    await proc.stop();
    throw err;
  }
}

// fetch cannot take a CA per call: HTTPS goes through node:https with the test CA.
async function request(url: string, method: string, token: string, body: unknown, ca: Buffer | undefined): Promise<{ status: number; text: string }> {
  const headers = { authorization: `Bearer ${token}`, 'content-type': 'application/json' };
  if (!ca) {
    const res = await fetch(url, { method, headers, ...(body === undefined ? {} : { body: JSON.stringify(body) }), signal: AbortSignal.timeout(15_000) });
    return { status: res.status, text: await res.text() };
  }
  return new Promise((resolve, reject) => {
    const req = https.request(url, { method, ca, headers, timeout: 15_000 }, (res) => {
      let text = '';
      res.setEncoding('utf8').on('data', (d: string) => { text += d; });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
    });
    req.on('timeout', () => req.destroy(new Error(`${method} ${url}: no answer within 15 s`)));
    req.on('error', reject);
    req.end(body === undefined ? undefined : JSON.stringify(body));
  });
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
