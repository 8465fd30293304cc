// One-off start-up and latency probe behind the interleaved before/after figures of bench/analysis.md (not part of
// `npm run bench`): for one executable, STARTS runs of start -> connected against the bench peer (the first enrolls;
// the median of the others is "warm"), then COMMANDS sequential policy.assign -> ack on the last run.
//   npx esbuild bench/latency-probe.ts --bundle --platform=node --packages=external --format=esm --outfile=build/bench/latency-probe.mjs
//   node build/bench/latency-probe.mjs EXE [STARTS=7] [COMMANDS=2000]
// Run the A and B executables alternately, one probe at a time.
import os from 'node:os';
import path from 'node:path';
import { mkdtempSync, rmSync } from 'node:fs';
import { agentHome, enroll, runAgent, pollStatus } from './lib/agent.js';
import { startPeer } from './lib/peer.js';
import { cpuMsOf } from './lib/proc.js';
import { percentile, median } from './lib/stats.js';
import { MONITORING_60S_ASSIGNED as POLICY } from './lib/server.js';

const exe = process.argv[2]!;
const starts = Math.min(50, Math.max(2, Number(process.argv[3] ?? 7)));
const n = Math.min(100_000, Math.max(1, Number(process.argv[4] ?? 2000)));
const work = mkdtempSync(path.join(os.tmpdir(), 'lat-'));
const launcher = [exe];
const peer = await startPeer(() => ({ revision: 1, services: { monitoring: { policy: POLICY } } }));
const home = agentHome(work, 'a');
await enroll(launcher as never, home, { agentUrl: peer.agentUrl, serverKey: peer.serverKey, token: 'bench-enrollment-token' });
const conn: number[] = [], cpu: number[] = [];
for (let i = 0; i < starts; i++) {
  const t0 = performance.now();
  const proc = runAgent(launcher as never, home);
  await proc.waitForEvent('connected', 30_000);
  conn.push(performance.now() - t0);
  cpu.push(cpuMsOf(proc.pid));
  if (i < starts - 1) await proc.stop();
  else {
    await pollStatus(home.ipcPath, (s) => (s.services ?? []).some((x) => x.name === 'monitoring' && x.phase === 'running'), performance.now(), 30_000, 50);
    for (let k = 0; k < 50; k++) await peer.command('policy.assign', { service: 'monitoring', policy: POLICY }, 10_000);
    const ms: number[] = [];
    const c0 = cpuMsOf(proc.pid);
    for (let k = 0; k < n; k++) { const r = await peer.command('policy.assign', { service: 'monitoring', policy: POLICY }, 10_000); if (r.status === 'done') ms.push(r.ms); }
    const cpuPer = (cpuMsOf(proc.pid) - c0) / n;
    console.log(`${exe}: warm connected median ${median(conn.slice(1))?.toFixed(0)} ms (cpu ${median(cpu.slice(1))?.toFixed(0)} ms); policy.assign p50 ${percentile(ms, 50)?.toFixed(2)} p99 ${percentile(ms, 99)?.toFixed(2)} ms, cpu/cmd ${cpuPer.toFixed(2)} ms, done ${ms.length}/${n}`);
    await proc.stop();
  }
}
await peer.close();
rmSync(work, { recursive: true, force: true });
process.exit(0);
