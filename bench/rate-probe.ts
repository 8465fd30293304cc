// One-off open-loop rate probe behind the interleaved throughput figures of bench/analysis.md (not part of
// `npm run bench`, whose command suite steps through the rates): one agent, RATE policy.assign per second for
// SECONDS, every command signed before the clock starts; prints how many were done per second and the agent's CPU.
//   npx esbuild bench/rate-probe.ts --bundle --platform=node --packages=external --format=esm --outfile=build/bench/rate-probe.mjs
//   node build/bench/rate-probe.mjs '["dist/rmagent-linux-x64"]' [RATE=1600] [SECONDS=5]
// Run the A and B executables alternately, one probe at a time.
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { agentHome, enroll, pollStatus, runAgent } from './lib/agent.js';
import { startPeer, type AckResult } from './lib/peer.js';
import { cpuMsOf, selfCpuMs } from './lib/proc.js';
import { MONITORING_60S_ASSIGNED as POLICY } from './lib/server.js';
import { percentile, sleep } from './lib/stats.js';
const launcher = JSON.parse(process.argv[2]!);
const rate = Math.min(20_000, Math.max(1, Number(process.argv[3] ?? 1600))), seconds = Math.min(60, Math.max(1, Number(process.argv[4] ?? 5)));
const work = mkdtempSync(path.join(os.tmpdir(), 'rate-'));
const peer = await startPeer(() => ({ revision: 1, services: { monitoring: { policy: POLICY } } }));
const home = agentHome(work, 'a');
await enroll(launcher, home, { agentUrl: peer.agentUrl, serverKey: peer.serverKey, token: 'bench-enrollment-token' });
const proc = runAgent(launcher, home);
try {
  await peer.online(30_000);
  await pollStatus(home.ipcPath, (s) => (s.services ?? []).some((x) => x.name === 'monitoring' && x.phase === 'running'), performance.now(), 30_000, 50);
  for (let i = 0; i < 50; i++) await peer.command('policy.assign', { service: 'monitoring', policy: POLICY }, 10_000);
  const total = rate * seconds;
  const prepared = Array.from({ length: total }, () => peer.prepare('policy.assign', { service: 'monitoring', policy: POLICY }));
  const results: Array<Promise<AckResult>> = [];
  const c0 = cpuMsOf(proc.pid), s0 = selfCpuMs(), started = performance.now();
  while (results.length < total) {
    const due = Math.min(total, Math.ceil(((performance.now() - started) / 1000) * rate));
    while (results.length < due) results.push(peer.sendPrepared(prepared[results.length]!, 60_000));
    await sleep(10);
  }
  const sent = (performance.now() - started) / 1000;
  const done = await Promise.all(results);
  const elapsed = (performance.now() - started) / 1000;
  const ok = done.filter((r) => r.status === 'done');
  console.log(`offered ${rate}/s for ${seconds}s (sent in ${sent.toFixed(1)} s): done ${ok.length}/${total} in ${elapsed.toFixed(1)} s = ${(ok.length / elapsed).toFixed(0)}/s; p50 ${percentile(ok.map((r) => r.ms), 50)?.toFixed(0)} ms max ${Math.max(...ok.map((r) => r.ms)).toFixed(0)} ms; agent CPU/cmd ${((cpuMsOf(proc.pid) - c0) / total).toFixed(2)} ms; bench CPU/cmd ${((selfCpuMs() - s0) / total).toFixed(2)} ms`);
} finally {
  await proc.stop();
  await peer.close();
  rmSync(work, { recursive: true, force: true });
}
