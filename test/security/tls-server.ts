// Real TLS material and a real TLS server for the security tests: a test CA and server certificates made by openssl
// (their pins as openssl computes them), the built `rmagent-server` with --tls-cert, and its API over HTTPS.
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import path from 'node:path';
import { spawnNode, waitForEvent, type Spawned } from '../../src/cli/processes.js';
import { SERVER_JS, tempDir } from '../e2e/harness.js';

export interface Ca { caFile: string; caKeyFile: string }
export interface ServerCert { certFile: string; keyFile: string; pin: string }
export type Certs = Ca & ServerCert;

const ssl = (...args: string[]) => execFileSync('openssl', args, { stdio: 'ignore', timeout: 20_000 });

export function makeCa(dir: string): Ca {
  const f = (name: string) => path.join(dir, name);
  ssl('req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '2', '-subj', '/CN=rmagent test CA',
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign', '-keyout', f('ca.key'), '-out', f('ca.pem'));
  return { caFile: f('ca.pem'), caKeyFile: f('ca.key') };
}

/** A certificate for 127.0.0.1/localhost with its own new key, signed by `ca`; `name` prefixes its files. */
export function makeServerCert(dir: string, ca: Ca, name = 'server'): ServerCert {
  const f = (suffix: string) => path.join(dir, `${name}${suffix}`);
  ssl('req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-subj', '/CN=localhost', '-keyout', f('.key'), '-out', f('.csr'));
  writeFileSync(f('.ext'), 'subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n');
  ssl('x509', '-req', '-in', f('.csr'), '-CA', ca.caFile, '-CAkey', ca.caKeyFile, '-CAcreateserial', '-days', '2', '-extfile', f('.ext'), '-out', f('.pem'));
  const pin = execFileSync('sh', ['-c', `openssl x509 -in '${f('.pem')}' -pubkey -noout | openssl pkey -pubin -outform der | openssl dgst -sha256 -binary | base64`], { timeout: 20_000 })
    .toString().trim();
  return { certFile: f('.pem'), keyFile: f('.key'), pin };
}

/** A test CA and one server certificate signed by it. */
export function makeCerts(dir: string): Certs {
  const ca = makeCa(dir);
  return { ...ca, ...makeServerCert(dir, ca) };
}

export interface TlsServer { proc: Spawned; httpUrl: string; agentUrl: string; port: number; dataDir: string; serverKey: string }

/** The built server; pass --tls-cert/--tls-key in `extra` for HTTPS and wss://. */
export async function startServer(extra: string[] = [], opts: { dataDir?: string; port?: number } = {}): Promise<TlsServer> {
  const dataDir = opts.dataDir ?? tempDir('tls-server');
  const proc = spawnNode(SERVER_JS, ['--listen', `127.0.0.1:${opts.port ?? 0}`, '--data', dataDir, '--heartbeat-sec', '2', '--log-level', 'warn', ...extra]);
  const listening = await waitForEvent<{ httpUrl: string; agentUrl: string; port: number }>(proc, 'listening');
  return { proc, ...listening, dataDir, serverKey: readFileSync(path.join(dataDir, 'server-key.pub'), 'utf8').trim() };
}

/** The API over HTTPS, trusting the test CA (fetch cannot take a CA per call). */
export function api<T>(server: TlsServer, ca: Buffer | undefined, method: string, route: string, body?: unknown, token?: string): Promise<{ status: number; body: T }> {
  token ??= readFileSync(path.join(server.dataDir, 'owner.token'), 'utf8').trim();
  return new Promise((resolve, reject) => {
    const req = https.request(`${server.httpUrl}/api/v1${route}`, { method, ca, headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, timeout: 10_000 }, (res) => {
      let text = '';
      res.setEncoding('utf8').on('data', (d: string) => { text += d; });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) as T }));
    });
    req.on('error', reject);
    req.end(body === undefined ? undefined : JSON.stringify(body));
  });
}
