// Where start-up time and memory go: a bare Node process importing one dependency (or one of our module
// graphs) at a time, timed and measured against the same process importing nothing.
import { existsSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import type { BenchContext, Figure, SuiteResult } from '../lib/context.js';
import { runProc } from '../lib/child.js';
import { median } from '../lib/stats.js';

const PROBE = "const t=performance.now();for(const m of process.argv.slice(1))await import(m);const ms=performance.now()-t;globalThis.gc?.();console.log(JSON.stringify({ms,rss:process.memoryUsage().rss,heap:process.memoryUsage().heapUsed}));";

export async function modules(ctx: BenchContext): Promise<SuiteResult> {
  const runs = ctx.quick ? 1 : 5;
  const ours = (rel: string) => pathToFileURL(path.join(ctx.root, 'build', rel)).href;
  const targets: Array<[string, string[]]> = [
    ['nothing (floor)', []],
    ['zod', ['zod']],
    ['ws', ['ws']],
    ['winston', ['winston']],
    ['systeminformation', ['systeminformation']],
    ['src/protocol (frames, sign)', [ours('src/protocol/frames.js'), ours('src/protocol/sign.js')]],
    ['src/log.ts (winston + redaction)', [ours('src/log.js')]],
    ['src/agent/agent.ts (the daemon graph)', [ours('src/agent/agent.js')]],
    ['src/cli/run.ts (rmagent run, everything)', [ours('src/cli/run.js')]],
  ];
  const figures: Figure[] = [];
  const notes: string[] = [];
  let floor: { ms: number | null; rss: number | null } = { ms: null, rss: null };
  for (const [name, specs] of targets) {
    const missing = specs.filter((s) => s.startsWith('file:') && !existsSync(new URL(s)));
    if (missing.length) {
      notes.push(`${name}: not built (${missing.map((m) => path.relative(ctx.root, new URL(m).pathname)).join(', ')})`);
      continue;
    }
    const ms: number[] = [];
    const rss: number[] = [];
    for (let i = 0; i < runs; i++) {
      const r = await runProc([process.execPath, '--expose-gc', '--input-type=module', '-e', PROBE, ...specs], [], { PATH: process.env.PATH ?? '' });
      try {
        const v = JSON.parse(r.stdout.trim().split('\n').pop()!) as { ms: number; rss: number };
        ms.push(v.ms);
        rss.push(v.rss / 1024 / 1024);
      } catch {
        notes.push(`${name}: import failed: ${r.stderr.trim().split('\n').slice(0, 3).join(' ')}`);
        break;
      }
    }
    if (!ms.length) continue;
    const mMs = median(ms);
    const mRss = median(rss);
    if (specs.length === 0) floor = { ms: mMs, rss: mRss };
    const plus = (v: number | null, f: number | null) => (v !== null && f !== null && specs.length ? ` (+${(v - f).toFixed(1)})` : '');
    figures.push({ name: `import ${name}: time`, unit: 'ms', runs: ms, value: mMs });
    figures.push({ name: `import ${name}: RSS after`, unit: 'MB', runs: rss, value: mRss, ...(specs.length ? { baseline: 'nothing', ratio: mRss !== null && floor.rss ? mRss / floor.rss : null } : {}), note: plus(mRss, floor.rss).trim() });
  }
  return {
    id: 'modules',
    title: `Module cost (node ${ctx.runtimes.nodeVersion}, ${runs} runs; import time in ms and RSS after a GC)`,
    commands: [`node --expose-gc --input-type=module -e '<import each module, then print time and process.memoryUsage().rss>' MODULE...`],
    figures,
    notes,
  };
}
