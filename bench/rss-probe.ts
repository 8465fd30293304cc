// One-off RSS probe behind the before/after figures of bench/analysis.md (not part of `npm run bench`): one agent
// connected to a reference server on loopback with Monitoring active, next to the bare Node 24 floor, both dropped
// from the page cache first; prints the peak RSS of the last 5 s of the window and the largest mappings.
//   npx esbuild bench/rss-probe.ts --bundle --platform=node --packages=external --format=esm --outfile=build/bench/rss-probe.mjs
//   node build/bench/rss-probe.mjs '["dist/rmagent-linux-x64"]' 60 [ENV=VALUE ...]
// The first argument is the agent's launcher as JSON (an executable and its leading arguments: runtime flags for the
// single executable as '["dist/rmagent-linux-x64", "--node-options=--v8-pool-size=1"]', which ignores NODE_OPTIONS);
// ENV=VALUE pairs go to the agent. Run the A and B executables alternately, one probe at a time.
import { readFileSync, mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { agentHome, enroll, runAgent, pollStatus, isConnected, ipcStatus } from './lib/agent.js';
import { startProc } from './lib/child.js';
import { rssByMapping } from './lib/proc.js';
import { startServer } from './lib/server.js';
import { activateMonitoring } from './lib/scenario.js';
import { dropFromPageCache } from './lib/page-cache.js';
import { findRuntimes } from './lib/runtimes.js';

const launcher = JSON.parse(process.argv[2] ?? '[]') as string[];
const windowSec = Math.min(600, Math.max(5, Number(process.argv[3] ?? 60)));
const env = Object.fromEntries(process.argv.slice(4).map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]));
if (!launcher.length) throw new Error('usage: rss-probe.mjs \'["EXE", ...args]\' [windowSec] [ENV=VALUE ...]');
const root = process.cwd();
const work = mkdtempSync(path.join(os.tmpdir(), 'rss-probe-'));

/** RSS (KB) by mapping name from /proc/PID/smaps: the total and the largest few. */
function smaps(pid: number): { total: number; top: string } {
  const groups = rssByMapping(pid);
  const total = [...groups.values()].reduce((a, b) => a + b, 0);
  const top = [...groups.entries()].sort((a, b) => b[1] - a[1]).slice(0, 6).map(([k, v]) => `${path.basename(k)} ${(v / 1024).toFixed(1)}`).join(', ');
  return { total, top };
}

const floorNode = findRuntimes(root, path.join(os.tmpdir(), 'rmagent-bench-runtimes')).seaNode;
if (!floorNode) throw new Error('no Node 24 runtime for the floor (installer/sea/build.sh fetches it)');
dropFromPageCache([floorNode, launcher[0]!]);
const server = await startServer(root, path.join(work, 'server'), []);
const floor = startProc([floorNode], ['-e', 'setInterval(() => {}, 1000)'], {});
try {
  const home = agentHome(work, 'a', env);
  const { token } = await server.api<{ token: string }>('POST', '/enrollment-tokens', { expiresInSec: 3600, maxUses: 10 });
  await enroll(launcher as never, home, { agentUrl: server.agentUrl, serverKey: server.serverKey, token });
  const proc = runAgent(launcher as never, home);
  await pollStatus(home.ipcPath, isConnected, performance.now(), 30_000, 20);
  // The status may not carry the device id yet right after connecting; the registration file does.
  const deviceId = (await ipcStatus(home.ipcPath))?.registration?.deviceId ?? (JSON.parse(readFileSync(path.join(home.stateDir, 'registration.json'), 'utf8')) as { deviceId: string }).deviceId;
  await activateMonitoring(server, [{ home, proc, deviceId, connectedMs: 0 }]);
  let agentPeak = 0, floorPeak = 0;
  for (let i = 0; i < windowSec; i++) {
    await new Promise((resolve) => setTimeout(resolve, 1000));
    if (i >= windowSec - 5) {
      agentPeak = Math.max(agentPeak, smaps(proc.pid).total);
      floorPeak = Math.max(floorPeak, smaps(floor.pid).total);
    }
  }
  console.log(`agent peak ${(agentPeak / 1024).toFixed(1)} MB  floor ${(floorPeak / 1024).toFixed(1)} MB  ratio ${(agentPeak / floorPeak).toFixed(3)}`);
  console.log(`agent: ${smaps(proc.pid).top}`);
  console.log(`floor: ${smaps(floor.pid).top}`);
  await proc.stop();
} finally {
  await floor.stop();
  await server.stop();
}
