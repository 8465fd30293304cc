// 3. Command latency and throughput: a signed policy.assign (same policy: idempotent) sent by a protocol
// peer -> the agent's final ack, p50/p99 over thousands of commands; then open-loop rates rising until a
// command is late (not done within 10 s); late and lost (never answered) are counted apart. Baseline: a
// WebSocket round trip to a bare Node + ws echo process.
import { WebSocketServer } from 'ws';
import type { AddressInfo } from 'node:net';
import type { BenchContext, Figure, SuiteResult } from '../lib/context.js';
import { agentHome, agentLauncher, enroll, FLAVOUR_LABEL, pollStatus, runAgent, type Flavour } from '../lib/agent.js';
import { startProc } from '../lib/child.js';
import { startPeer, type AckResult, type Peer } from '../lib/peer.js';
import { cpuMsOf } from '../lib/proc.js';
import { MONITORING_60S_ASSIGNED as POLICY } from '../lib/server.js';
import { median, percentile, ratio, sleep } from '../lib/stats.js';

const ECHO_CLIENT = "const {WebSocket}=await import('ws');const ws=new WebSocket(process.argv[1]);ws.on('message',(m)=>ws.send(m.toString()));ws.on('close',()=>process.exit(0));";

async function sequential(peer: Peer, n: number, type: 'policy.assign' | 'status.request'): Promise<{ ms: number[]; lost: number; reasons: string[] }> {
  const ms: number[] = [];
  const reasons = new Set<string>();
  let lost = 0;
  for (let i = 0; i < n; i++) {
    const r: AckResult = type === 'policy.assign' ? await peer.command('policy.assign', { service: 'monitoring', policy: POLICY }, 10_000) : await peer.command('status.request', {}, 10_000);
    if (r.status === 'done') ms.push(r.ms);
    else {
      // Lost = no final ack at all; a rejected or failed command was answered (and is reported in the notes).
      if (Number.isNaN(r.ms)) lost += 1;
      if (reasons.size < 3) reasons.add(`${r.status}: ${r.reason ?? ''}`);
    }
  }
  return { ms, lost, reasons: [...reasons] };
}

const ON_TIME_MS = 10_000;
/** How long an open-loop run waits for the last acks: past this a command counts as lost (never answered). */
const DRAIN_MS = 60_000;

interface OpenLoop {
  /** Rate the peer actually sent at (all commands are signed before the clock starts). */
  sentRate: number;
  onTime: number;
  /** Done, but more than 10 s after it was sent: the agent was behind, the command was not lost. */
  late: number;
  /** No final ack within DRAIN_MS, or answered failed/rejected. */
  lost: number;
  p99: number | null;
  /** Commands done per second, from the first send to the last ack. */
  achieved: number;
}

/** Offers `rate` commands/s for `seconds` (open loop), then waits up to DRAIN_MS for every final ack. */
async function offered(peer: Peer, rate: number, seconds: number): Promise<OpenLoop> {
  const tickMs = 10;
  const total = rate * seconds;
  const prepared = Array.from({ length: total }, () => peer.prepare('policy.assign', { service: 'monitoring', policy: POLICY }));
  const results: Array<Promise<AckResult>> = [];
  const started = performance.now();
  while (results.length < total && performance.now() - started < seconds * 1000 + 5_000) {
    // Catch up by the clock, so a late timer tick does not lower the rate offered.
    const due = Math.min(total, Math.ceil(((performance.now() - started) / 1000) * rate));
    while (results.length < due) results.push(peer.sendPrepared(prepared[results.length]!, DRAIN_MS));
    await sleep(tickMs);
  }
  const sentRate = results.length / Math.max((performance.now() - started) / 1000, seconds);
  const done = await Promise.all(results);
  const elapsed = (performance.now() - started) / 1000;
  const ok = done.filter((r) => r.status === 'done');
  const onTime = ok.filter((r) => r.ms <= ON_TIME_MS).length;
  // Commands the bench did not manage to send are not the agent's losses: sentRate shows them.
  return { sentRate, onTime, late: ok.length - onTime, lost: results.length - ok.length, p99: percentile(ok.map((r) => r.ms), 99), achieved: ok.length / elapsed };
}

async function echoBaseline(ctx: BenchContext, n: number): Promise<number[]> {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  await new Promise<void>((r) => wss.once('listening', () => r()));
  const url = `ws://127.0.0.1:${(wss.address() as AddressInfo).port}`;
  const client = startProc([process.execPath, '--input-type=module', '-e', ECHO_CLIENT, url], [], { PATH: process.env.PATH ?? '' });
  try {
    const ws = await new Promise<import('ws').WebSocket>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error('echo client did not connect')), 10_000);
      wss.once('connection', (s) => { clearTimeout(t); resolve(s); });
    });
    const payload = JSON.stringify({ v: 1, id: 'x'.repeat(24), type: 'policy.assign', ts: Date.now(), body: { deviceId: 'dev-0000', service: 'monitoring', policy: POLICY }, sig: 'y'.repeat(88) });
    const ms: number[] = [];
    for (let i = 0; i < n; i++) {
      const t0 = performance.now();
      await new Promise<void>((resolve) => { ws.once('message', () => resolve()); ws.send(payload); });
      ms.push(performance.now() - t0);
    }
    return ms;
  } finally {
    await client.stop();
    for (const c of wss.clients) c.terminate();
    await new Promise<void>((r) => wss.close(() => r()));
  }
}

export async function commands(ctx: BenchContext): Promise<SuiteResult> {
  const runs = ctx.quick ? 1 : 3;
  const n = ctx.quick ? 100 : 2_000;
  const nStatus = ctx.quick ? 10 : 30;
  const rates = ctx.quick ? [50] : [25, 50, 100, 200, 400, 800, 1_600, 3_200, 6_400];
  const rateSeconds = ctx.quick ? 1 : 5;
  const notes: string[] = [];
  const figures: Figure[] = [];

  const floor = { p50: [] as number[], p99: [] as number[] };
  for (let run = 0; run < runs; run++) {
    const ms = await echoBaseline(ctx, n);
    floor.p50.push(percentile(ms, 50)!);
    floor.p99.push(percentile(ms, 99)!);
  }
  figures.push({ name: 'ws round trip, bare node + ws (floor) p50', unit: 'ms', runs: floor.p50, value: median(floor.p50) });
  figures.push({ name: 'ws round trip, bare node + ws (floor) p99', unit: 'ms', runs: floor.p99, value: median(floor.p99) });

  // The bundle on the same Node runs the same code as the plain build; latency is about the code, not loading.
  const flavours: Flavour[] = ['node', ...(ctx.runtimes.sea ? ['sea' as const] : ctx.runtimes.seaNode ? ['bundle24' as const] : [])];
  for (const flavour of flavours) {
    const label = FLAVOUR_LABEL[flavour];
    const lat = { p50: [] as number[], p99: [] as number[], cpu: [] as number[], st50: [] as number[], st99: [] as number[] };
    let lostTotal = 0;
    let best: number | null = null;
    let bestAchieved: number | null = null;
    let bestP99: number | null = null;
    let top: (OpenLoop & { rate: number }) | null = null;
    let lostAtAnyRate = 0;
    try {
      for (let run = 0; run < runs; run++) {
        const peer = await startPeer(() => ({ revision: 1, services: { monitoring: { policy: POLICY } } }));
        const home = agentHome(ctx.work, `commands-${flavour}-${run}`);
        const launcher = agentLauncher(ctx.root, flavour, ctx.runtimes);
        const proc = (await enroll(launcher, home, { agentUrl: peer.agentUrl, serverKey: peer.serverKey, token: 'bench-enrollment-token' }), runAgent(launcher, home));
        try {
          await peer.online(30_000);
          await pollStatus(home.ipcPath, (s) => (s.services ?? []).some((x) => x.name === 'monitoring' && x.phase === 'running'), performance.now(), 30_000, 50).catch(() => {
            notes.push(`${label}: Monitoring did not reach "running"; policy.assign may be rejected`);
          });
          await sequential(peer, Math.min(50, n), 'policy.assign'); // warm-up
          const cpu0 = cpuMsOf(proc.pid);
          const seq = await sequential(peer, n, 'policy.assign');
          lat.cpu.push((cpuMsOf(proc.pid) - cpu0) / n);
          lostTotal += seq.lost;
          if (seq.reasons.length) notes.push(`${label}: not done: ${seq.reasons.join('; ')}`);
          if (seq.ms.length) {
            lat.p50.push(percentile(seq.ms, 50)!);
            lat.p99.push(percentile(seq.ms, 99)!);
          }
          const st = await sequential(peer, nStatus, 'status.request');
          if (st.ms.length) {
            lat.st50.push(percentile(st.ms, 50)!);
            lat.st99.push(percentile(st.ms, 99)!);
          }
          if (run === 0) {
            for (const rate of rates) {
              const r = await offered(peer, rate, rateSeconds);
              ctx.log(`commands ${label}: offered ${rate}/s (sent ${r.sentRate.toFixed(0)}/s) -> ${r.achieved.toFixed(0)}/s done, late ${r.late}, lost ${r.lost}, p99 ${r.p99?.toFixed(1)} ms`);
              top = { rate, ...r };
              lostAtAnyRate += r.lost;
              if (r.sentRate < rate * 0.9) notes.push(`${label}: at ${rate}/s the bench itself sent only ${Math.round(r.sentRate)}/s`);
              if (r.late > 0 || r.lost > 0) {
                notes.push(`${label}: at ${rate}/s offered (${rate * rateSeconds} commands), ${r.onTime} done within 10 s, ${r.late} done later (the agent was behind, ${Math.round(r.achieved)}/s done), ${r.lost} never answered within ${DRAIN_MS / 1000} s`);
                break;
              }
              best = rate;
              bestAchieved = r.achieved;
              bestP99 = r.p99;
            }
          }
        } finally {
          await proc.stop();
          await peer.close();
        }
      }
    } catch (err) {
      notes.push(`${label}: not measured: ${(err as Error).message.split('\n')[0]}`);
    }
    figures.push({ name: `policy.assign -> ack p50, ${label}`, unit: 'ms', runs: lat.p50, value: median(lat.p50), baseline: 'ws round trip p50', ratio: ratio(median(lat.p50), median(floor.p50)) });
    figures.push({ name: `policy.assign -> ack p99, ${label}`, unit: 'ms', runs: lat.p99, value: median(lat.p99), baseline: 'ws round trip p99', ratio: ratio(median(lat.p99), median(floor.p99)) });
    figures.push({ name: `agent CPU per policy.assign, ${label}`, unit: 'ms', runs: lat.cpu, value: median(lat.cpu) });
    figures.push({ name: `status.request -> ack p50, ${label}`, unit: 'ms', runs: lat.st50, value: median(lat.st50), note: 'includes a status report' });
    figures.push({ name: `status.request -> ack p99, ${label}`, unit: 'ms', runs: lat.st99, value: median(lat.st99) });
    figures.push({ name: `commands lost in ${runs}×${n} sequential, ${label}`, unit: 'commands', runs: [lostTotal], value: lostTotal });
    figures.push({ name: `highest rate with every command done within 10 s, ${label}`, unit: 'commands/s offered', runs: best === null ? [] : [best], value: best, note: bestAchieved === null ? 'no rate passed' : `${Math.round(bestAchieved)}/s done, p99 ${Math.round(bestP99 ?? NaN)} ms at that rate; ${rateSeconds} s per rate` });
    figures.push({ name: `commands never answered, every rate run (highest ${top?.rate ?? '-'}/s), ${label}`, unit: 'commands', runs: top ? [lostAtAnyRate] : [], value: top ? lostAtAnyRate : null, note: top ? `at ${top.rate}/s: ${top.onTime} done within 10 s, ${top.late} later, ${Math.round(top.achieved)}/s done` : 'not run' });
  }
  return {
    id: 'commands',
    title: `Command latency and throughput (${runs} runs × ${n} sequential policy.assign; open-loop rates)`,
    commands: [
      'bench peer: WebSocketServer 127.0.0.1:0 speaking protocol v1 (src/protocol), commands signed with its own Ed25519 key',
      'rmagent enroll --server ws://127.0.0.1:PORT/agent --token T --server-key PEERKEY --state-dir S; rmagent run --state-dir S --log-dir L',
      'latency: signed policy.assign (same Monitoring policy) sent -> ack "done" received, one at a time',
      `throughput: ${rates.join(', ')} commands/s offered for ${rateSeconds} s each (open loop; every command signed before the clock starts), stop after the first rate where a command is not done within 10 s; every rate waits up to ${DRAIN_MS / 1000} s for its last acks, and a command without a final "done" by then is lost`,
    ],
    figures,
    notes,
  };
}
