// "After SIGTERM the agent logged 'agent stopped' and never exited": a stop that lands while the welcome is being
// processed (its disk writes in flight) let the connection start its heartbeat on the closed session afterwards,
// and that interval kept the process alive for ever. A real process, the built code and the reference server:
// the stop is made to land in that window, then the process must end by itself.
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';

const built = (file: string) => pathToFileURL(path.resolve('build/src', file)).href;

const childScript = (dir: string) => `
import path from 'node:path';
import { startServer } from ${JSON.stringify(built('server/server.js'))};
import { createConnection } from ${JSON.stringify(built('agent/connection.js'))};
import { createIdentityStore, registerDevice } from ${JSON.stringify(built('agent/identity.js'))};
import { createOutbox } from ${JSON.stringify(built('agent/outbox.js'))};
import { createReplayGuard } from ${JSON.stringify(built('agent/replay.js'))};
import { configSchema } from ${JSON.stringify(built('config/schema.js'))};
import { createCommandRunner } from ${JSON.stringify(built('system/exec.js'))};
import { systemClock } from ${JSON.stringify(built('system/clock.js'))};
import { silentLogger } from ${JSON.stringify(built('log.js'))};
import '${built('protocol/zod-locale.js')}';

const dir = ${JSON.stringify(dir)};
const logger = silentLogger();
const server = await startServer({ host: '127.0.0.1', port: 0, dataDir: path.join(dir, 'server'), logger, heartbeatSec: 1 });
const res = await fetch(server.httpUrl + '/api/v1/enrollment-tokens', { method: 'POST', headers: { authorization: 'Bearer ' + server.ownerToken, 'content-type': 'application/json' }, body: JSON.stringify({ expiresInSec: 600, maxUses: 1 }) });
const { token } = await res.json();
const stateDir = path.join(dir, 'state');
await registerDevice({ stateDir, machineId: 'm1', serverUrl: server.agentUrl, token, serverKey: server.serverPublicKey, clock: systemClock });
const config = configSchema().parse({ stateDir, logDir: stateDir, connection: { backoffBaseMs: 50, backoffMaxMs: 300 } });
const identity = createIdentityStore({ stateDir, machineId: 'm1', clock: systemClock, logger });
// The welcome's first disk write waits until the stop is over: the window the stop once fell into.
let entered, release;
const inWelcome = new Promise((r) => { entered = r; });
const stopDone = new Promise((r) => { release = r; });
const slowIdentity = { ...identity, markEnrolled: async (...args) => { entered(); await stopDone; return identity.markEnrolled(...args); } };
const outbox = createOutbox({ dir: path.join(stateDir, 'outbox'), maxBytes: 1 << 20, clock: systemClock, logger });
const replay = createReplayGuard({ file: path.join(stateDir, 'replay.json'), windowMs: 300000, clock: systemClock });
await outbox.open();
await replay.open();
const connection = createConnection({ context: { config, logger, runner: createCommandRunner(), clock: systemClock }, identity: slowIdentity, outbox, replay,
  deviceFacts: async () => ({ hostname: 'pc', platform: 'linux', arch: 'x64', osRelease: '6', agentVersion: '0.1.0', alias: null, teamviewer: null }),
  onCommand: async () => ({ status: 'done' }) });
connection.start();
await inWelcome;
await connection.stop();
release();
await new Promise((r) => setTimeout(r, 300));
await replay.close();
await server.stop();
console.log(JSON.stringify({ event: 'stopped', phase: connection.status().phase }));
`;

describe('stopping the agent', () => {
  it('ends the process by itself when the stop lands while the welcome is being handled', async () => {
    const connectionJs = path.resolve('build/src/agent/connection.js');
    expect(existsSync(connectionJs), 'run `npm run build` first').toBe(true);
    expect(statSync(connectionJs).mtimeMs, 'build/ is older than src/agent/connection.ts: run `npm run build`').toBeGreaterThanOrEqual(statSync('src/agent/connection.ts').mtimeMs);
    const dir = mkdtempSync(path.join(tmpdir(), 'rmagent-stop-'));
    const script = path.join(dir, 'stop.mjs');
    writeFileSync(script, childScript(dir));
    const started = Date.now();
    const { code, stdout, stderr } = await new Promise<{ code: number | string | null; stdout: string; stderr: string }>((resolve) => {
      // Killed after 15 s: a process still alive then is the bug (the heartbeat interval never lets it end).
      execFile(process.execPath, [script], { timeout: 15_000, killSignal: 'SIGKILL' }, (err, out, errOut) => {
        resolve({ code: err ? ((err as { code?: number | string }).code ?? (err as { signal?: string }).signal ?? null) : 0, stdout: out, stderr: errOut });
      });
    });
    expect(stdout, stderr).toContain('"event":"stopped"');
    expect(code, `process did not end by itself (${Date.now() - started} ms)\n${stderr}`).toBe(0);
    expect(JSON.parse(stdout.trim().split('\n').pop()!)).toEqual({ event: 'stopped', phase: 'stopped' });
  }, 30_000);
});
