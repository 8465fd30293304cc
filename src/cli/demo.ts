#!/usr/bin/env node
// `npm start`: the embedded default. Walks the seed's steps with real processes on loopback: reference server,
// simulated TeamViewer Host, enrollment token, `rmagent enroll`, `rmagent run`, Monitoring activated with its
// default policy; prints `rmagent status` after each step, then runs until Ctrl-C (or exits with --once).
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
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

main().then(
  (code) => { process.exitCode = code; },
  (err: unknown) => {
    process.stderr.write(`demo failed: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 1;
  },
);
