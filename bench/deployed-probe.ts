// One-off probe behind the before/after figures of bench/analysis.md (not part of `npm run bench`): the as-deployed
// scene of bench/suites/deployed.ts with one or more executables run one after another (each a private cold copy,
// then restarted warm), each beside a fresh bare Node 24 floor; prints RSS, PSS and anonymous memory and the
// largest mappings, and can hold the agent for inspection.
//   npx esbuild bench/deployed-probe.ts --bundle --platform=node --packages=external --format=esm --outfile=build/bench/deployed-probe.mjs
//   node build/bench/deployed-probe.mjs [--settle S] [--hold S] [--no-jobs] [--env K=V]... EXE [EXE...]
// Alternate A and B executables (`A B A B`) to compare builds under the same load; --env goes to the agents
// (the single executable ignores NODE_OPTIONS: runtime flags such as --heapsnapshot-signal=SIGUSR2 need a build
// whose blob carries them, or its `--node-options=` argument).
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { startProc } from './lib/child.js';
import { memoryOf, rssByMapping } from './lib/proc.js';
import { findRuntimes } from './lib/runtimes.js';
import { privateColdCopy } from './lib/page-cache.js';
import { sleep } from './lib/stats.js';
import { deployedScene, startDeployedAgent } from './suites/deployed.js';

const { values, positionals } = parseArgs({ options: { settle: { type: 'string', default: '30' }, hold: { type: 'string', default: '0' }, 'no-jobs': { type: 'boolean', default: false }, env: { type: 'string', multiple: true, default: [] } }, allowPositionals: true });
if (!positionals.length) throw new Error('usage: deployed-probe.mjs [--settle S] [--hold S] [--env K=V]... EXE [EXE...]');
const settleMs = Math.min(600, Number(values.settle)) * 1000;
const holdMs = Math.min(3600, Number(values.hold)) * 1000;
const extraEnv = Object.fromEntries(values.env.map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]));
const root = process.cwd();
const work = mkdtempSync(path.join(os.tmpdir(), 'deployed-probe-'));
const log = (line: string) => process.stderr.write(`[probe ${new Date().toISOString().slice(11, 19)}] ${line}\n`);
const runtimes = findRuntimes(root, path.join(os.tmpdir(), 'rmagent-bench-runtimes'));
if (!runtimes.seaNode) throw new Error('no Node 24 runtime for the floor');
const ctx = { root, quick: false, work, runtimes, log };

/** RSS (kB) by mapping name from /proc/PID/smaps, largest first. */
function topMappings(pid: number, n = 8): string {
  const groups = rssByMapping(pid);
  return [...groups.entries()].sort((a, b) => b[1] - a[1]).slice(0, n).map(([k, v]) => `${path.basename(k)} ${(v / 1024).toFixed(1)}`).join(', ');
}

const mb = (kb: number) => (kb / 1024).toFixed(1);
try {
  let i = 0;
  for (const exeArg of positionals) {
    const exe = path.resolve(exeArg);
    const launcher = (e: string) => [e] as const;
    const dir = path.join(work, `p${i++}`);
    const scene = await deployedScene(ctx, dir, launcher(exe));
    const copy = privateColdCopy(exe, path.join(dir, 'rmagent'));
    const floorCopy = privateColdCopy(runtimes.seaNode, path.join(dir, 'floor-node'));
    scene.home.env = { ...scene.home.env, ...extraEnv };
    try {
      for (const state of ['cold', 'warm']) {
        const floor = startProc([floorCopy], ['-e', 'setInterval(() => {}, 1000)'], {});
        const notes = new Set<string>();
        const agent = await startDeployedAgent(scene, launcher(copy), notes, !values['no-jobs']);
        await sleep(settleMs);
        const a = memoryOf(agent.pid);
        const f = memoryOf(floor.pid);
        console.log(`${exeArg} ${state}: agent RSS ${mb(a.rssKb)} PSS ${mb(a.pssKb)} anon ${mb(a.anonKb)} | floor RSS ${mb(f.rssKb)} PSS ${mb(f.pssKb)} anon ${mb(f.anonKb)} | ratio RSS ${(a.rssKb / f.rssKb).toFixed(3)} PSS ${(a.pssKb / f.pssKb).toFixed(3)} | load ${os.loadavg()[0]!.toFixed(1)}${notes.size ? ` | ${[...notes].join('; ')}` : ''}`);
        console.log(`  agent: ${topMappings(agent.pid)}`);
        console.log(`  floor: ${topMappings(floor.pid)}`);
        if (holdMs && state === 'cold') {
          log(`holding agent pid ${agent.pid} for ${holdMs / 1000} s`);
          await sleep(holdMs);
        }
        await agent.stop();
        await floor.stop();
      }
    } finally {
      await scene.server.stop();
    }
  }
} finally {
  rmSync(work, { recursive: true, force: true });
}
