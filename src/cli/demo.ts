#!/usr/bin/env node
// `npm start`: the embedded default. Walks the seed's steps with real processes on loopback: reference server,
// simulated TeamViewer Host, enrollment token, `rmagent enroll`, `rmagent run`, Monitoring activated with its
// default policy; prints `rmagent status` after each step, then the web console's URL and a demo sign-in, and runs
// until Ctrl-C (or exits with --once).
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { cliScript, runNode, spawnNode, waitForEvent, waitUntil, type Spawned } from './processes.js';
import { simulateTeamViewerHost } from './simulated-teamviewer.js';

const once = process.argv.includes('--once');
const keep = process.argv.includes('--keep');
const say = (line = '') => process.stdout.write(`${line}\n`);
const step = (n: number, title: string) => say(`\n=== Step ${n}: ${title} ${'='.repeat(Math.max(0, 70 - title.length))}`);

async function main(): Promise<number> {
  const work = mkdtempSync(path.join(tmpdir(), 'rmagent-demo-'));
  const children: Spawned[] = [];
  const stopAll = async () => {
    for (const c of children.reverse()) await c.stop('SIGTERM');
    if (!keep) rmSync(work, { recursive: true, force: true });
  };
  try {
    say(`rmagent demo — everything lives in ${work}${keep ? '' : ' (removed at exit; --keep keeps it)'}`);
    step(0, 'Start the reference management server on a free loopback port');
    const dataDir = path.join(work, 'server');
    const server = spawnNode(cliScript('rmagent-server'), ['--listen', '127.0.0.1:0', '--data', dataDir, '--log-level', 'warn']);
    children.push(server);
    const { httpUrl, agentUrl } = await waitForEvent<{ httpUrl: string; agentUrl: string }>(server, 'listening');
    const ownerToken = readFileSync(path.join(dataDir, 'owner.token'), 'utf8').trim();
    const serverKey = readFileSync(path.join(dataDir, 'server-key.pub'), 'utf8').trim();
    const api = async <T>(method: string, route: string, body?: unknown): Promise<T> => {
      const res = await fetch(`${httpUrl}/api/v1${route}`, { method, headers: { authorization: `Bearer ${ownerToken}`, 'content-type': 'application/json' }, ...(body ? { body: JSON.stringify(body) } : {}) });
      const json = (await res.json()) as T & { error?: { code: string; message: string } };
      if (!res.ok) throw new Error(`${method} ${route}: ${json.error?.code} ${json.error?.message}`);
      return json;
    };
    say(`console API ${httpUrl}/api/v1 (owner token in ${path.join(dataDir, 'owner.token')}), agents connect to ${agentUrl}`);

    step(1, 'Prerequisite on the endpoint: TeamViewer Host (simulated here)');
    const tv = await simulateTeamViewerHost(path.join(work, 'teamviewer'));
    const stateDir = path.join(work, 'agent-state');
    writeFileSync(path.join(work, 'agent-config.json'), '{}\n');
    const env = {
      ...process.env,
      RMAGENT_CONFIG: path.join(work, 'agent-config.json'),
      RMAGENT_STATE_DIR: stateDir,
      RMAGENT_LOG_DIR: path.join(work, 'agent-logs'),
      RMAGENT_TEAMVIEWER_ROOT: tv.root,
      RMAGENT_TEAMVIEWER_PATH: tv.binDir,
      RMAGENT_TEAMVIEWER_PLATFORM: 'linux',
      RMAGENT_DETECT_INTERVAL_SEC: '10',
      RMAGENT_STATUS_INTERVAL_SEC: '30',
    };
    const rmagent = (...args: string[]) => runNode(cliScript('rmagent'), args, env);
    const showStatus = async () => {
      const r = await rmagent('status');
      say(r.stdout.trimEnd());
      say(`(rmagent status exit code ${r.code})`);
    };
    say(`TeamViewer Host ${tv.version}, ID ${tv.teamviewerId}, under ${tv.root}`);
    await showStatus();

    step(2, 'Register the device locally with an enrollment token (as an MDM would)');
    const { token } = await api<{ token: string }>('POST', '/enrollment-tokens', { expiresInSec: 3600, maxUses: 100 });
    const enrolled = await rmagent('enroll', '--server', agentUrl, '--token', token, '--server-key', serverKey, '--alias', 'demo-laptop');
    say(`$ rmagent enroll --server ${agentUrl} --token ****** --server-key ${serverKey.slice(0, 8)}… --alias demo-laptop`);
    say((enrolled.stdout + enrolled.stderr).trimEnd());
    if (enrolled.code !== 0) throw new Error(`rmagent enroll exited ${enrolled.code}`);
    await showStatus();

    step(3, 'Start the agent: it enrolls on its first connection');
    const agent = spawnNode(cliScript('rmagent'), ['run'], env);
    children.push(agent);
    await waitForEvent(agent, 'started');
    const deviceId = await waitUntil(async () => {
      const r = await rmagent('status', '--json');
      const s = JSON.parse(r.stdout) as { connection: { state: string }; registration: { deviceId: string | null } };
      return s.connection.state === 'connected' ? s.registration.deviceId : undefined;
    }, 30_000, 'the agent to connect', 250);
    await showStatus();

    step(4, 'In the console: activate Monitoring with its default policy on this device');
    const policy = await api<{ id: string; version: number }>('POST', '/policies', {
      name: 'Monitoring default',
      service: 'monitoring',
      settings: { checks: [{ type: 'cpu', threshold: 90, durationSec: 300, intervalSec: 60, severity: 'warning' }, { type: 'memory', threshold: 90, durationSec: 300, intervalSec: 60, severity: 'warning' }, { type: 'disk', threshold: 90, intervalSec: 300, severity: 'critical' }] },
    });
    await api('POST', '/services/monitoring/activate', { deviceIds: [deviceId], policyId: policy.id });
    await waitUntil(async () => {
      const r = await rmagent('status', '--json');
      const s = JSON.parse(r.stdout) as { services: Array<{ name: string; phase: string }> };
      return s.services.some((x) => x.name === 'monitoring' && x.phase === 'running');
    }, 30_000, 'Monitoring to run', 250);
    await showStatus();
    const overview = await api<{ devices: unknown[] }>('GET', '/services/monitoring/overview');
    say('\nConsole overview of Monitoring:');
    say(JSON.stringify(overview.devices, null, 2));

    step(5, 'The web console: a Monitoring licence activated by a demo administrator');
    const signIn = await demoConsoleAccount(httpUrl, dataDir, api);
    say(`Console: ${httpUrl}/console/`);
    say(`Sign in as ${signIn.email} with the password ${signIn.password} (a demo account; the licence e-mails are in ${path.join(dataDir, 'mail')})`);

    if (once) {
      say('\nDone (--once): stopping the agent and the server.');
      return 0;
    }
    say('\nThe agent and the server keep running. Try, in another terminal:');
    say(`  RMAGENT_STATE_DIR=${stateDir} node ${cliScript('rmagent')} status`);
    say(`  curl -s -H "Authorization: Bearer $(cat ${path.join(dataDir, 'owner.token')})" ${httpUrl}/api/v1/devices`);
    say('Press Ctrl-C to stop both.');
    await new Promise<void>((resolve) => {
      process.once('SIGINT', () => resolve());
      process.once('SIGTERM', () => resolve());
    });
    say('\nStopping the agent and the server…');
    return 0;
  } finally {
    await stopAll();
  }
}

/**
 * Issues a Monitoring licence, then does what its e-mails ask in a browser, through the public API: sign-up from
 * the activation link, the verification link, Activate. The demo account's password is random per run.
 */
async function demoConsoleAccount(httpUrl: string, dataDir: string, api: <T>(method: string, route: string, body?: unknown) => Promise<T>): Promise<{ email: string; password: string }> {
  const email = 'admin@demo.example';
  const password = randomBytes(9).toString('base64url');
  const lastLink = () => {
    const dir = path.join(dataDir, 'mail');
    const newest = readdirSync(dir).filter((f) => f.endsWith('.eml')).sort().at(-1)!;
    return new URL(/https?:\/\/\S+/.exec(readFileSync(path.join(dir, newest), 'utf8'))![0]);
  };
  await api('POST', '/licences', { product: 'monitoring', seats: 25, email });
  const key = new URLSearchParams(lastLink().hash.slice(1)).get('key')!;
  const call = async (route: string, body: unknown, cookie?: string) => {
    const res = await fetch(`${httpUrl}/api/v1${route}`, { method: 'POST', headers: { 'content-type': 'application/json', ...(cookie ? { cookie: cookie.split(';')[0]! } : {}) }, body: JSON.stringify(body) });
    if (!res.ok) throw new Error(`POST ${route}: ${res.status} ${await res.text()}`);
    return res;
  };
  await call('/signup', { key, email, name: 'Demo administrator', password, acceptTerms: true });
  const verified = await call('/verify-email', { token: new URLSearchParams(lastLink().hash.slice(1)).get('verify') });
  const cookie = verified.headers.getSetCookie()[0]!;
  const { csrfToken } = (await verified.json()) as { csrfToken: string };
  const activated = await fetch(`${httpUrl}/api/v1/licences/activate`, { method: 'POST', headers: { 'content-type': 'application/json', cookie: cookie.split(';')[0]!, 'x-csrf-token': csrfToken }, body: JSON.stringify({ key }) });
  if (!activated.ok) throw new Error(`licence activation: ${activated.status} ${await activated.text()}`);
  return { email, password };
}

main().then(
  (code) => { process.exitCode = code; },
  (err: unknown) => {
    process.stderr.write(`demo failed: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 1;
  },
);
