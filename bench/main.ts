// `npm run bench` (full) and `npm run bench:smoke` (= --quick): runs each benchmark, prints a table and
// (full runs only, unless --out is given) writes docs/benchmarks.md. Usage:
//   node build/bench/main.mjs [--quick] [--only deployed,footprint,startup,commands,report,fleet,modules,backup] [--out FILE]
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import type { BenchContext, SuiteResult } from './lib/context.js';
import { describeMachine } from './lib/machine.js';
import { findRuntimes } from './lib/runtimes.js';
import { markdown, textTable } from './lib/report.js';
import { killAllChildren } from './lib/child.js';
import { footprint } from './suites/footprint.js';
import { deployed } from './suites/deployed.js';
import { startup } from './suites/startup.js';
import { commands } from './suites/commands.js';
import { reportCost } from './suites/report-cost.js';
import { fleet } from './suites/fleet.js';
import { modules } from './suites/modules.js';
import { backup } from './suites/backup.js';

const SUITES: Record<string, (ctx: BenchContext) => Promise<SuiteResult>> = { deployed, footprint, startup, commands, report: reportCost, fleet, modules, backup };

async function main(): Promise<number> {
  const { values } = parseArgs({ options: { quick: { type: 'boolean' }, only: { type: 'string' }, out: { type: 'string' } }, strict: true });
  const root = process.cwd();
  if (!existsSync(path.join(root, 'build/src/cli/rmagent.js'))) throw new Error('run from the repository root after `npm run build`');
  const quick = values.quick ?? false;
  const only = values.only ? values.only.split(',') : Object.keys(SUITES);
  const unknown = only.filter((o) => !SUITES[o]);
  if (unknown.length) throw new Error(`unknown benchmark(s): ${unknown.join(', ')}; known: ${Object.keys(SUITES).join(', ')}`);
  const work = mkdtempSync(path.join(os.tmpdir(), 'rmagent-bench-'));
  const log = (line: string) => process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${line}\n`);
  const loadAtStart = os.loadavg()[0]!;
  const runtimes = findRuntimes(root, path.join(os.tmpdir(), 'rmagent-bench-runtimes'));
  const ctx: BenchContext = { root, quick, work, runtimes, log };
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      log(`${signal}: stopping every child and removing ${work}`);
      killAllChildren();
      rmSync(work, { recursive: true, force: true });
      process.exit(130);
    });
  }
  const results: SuiteResult[] = [];
  let failed = 0;
  try {
    for (const n of runtimes.notes) log(n);
    for (const name of only) {
      const started = Date.now();
      log(`${name}…`);
      try {
        results.push(await SUITES[name]!(ctx));
      } catch (err) {
        failed += 1;
        log(`${name} failed: ${(err as Error).stack ?? String(err)}`);
        results.push({ id: name, title: `${name}: failed`, commands: [], figures: [], notes: [`failed: ${(err as Error).message.split('\n')[0]}`] });
      }
      log(`${name} done in ${((Date.now() - started) / 1000).toFixed(1)} s`);
    }
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
  const machine = describeMachine(root, {
    node: `${runtimes.nodeVersion} (${runtimes.node})`,
    sea: runtimes.sea ? `${runtimes.seaNodeVersion} (dist/rmagent-linux-x64)` : `not built (floor runtime ${runtimes.seaNodeVersion})`,
  }, loadAtStart);
  log(`load average: ${machine.load}`);
  process.stdout.write(`${textTable(results)}\n`);
  const out = values.out ?? (quick ? null : path.join(root, 'docs/benchmarks.md'));
  if (out) {
    const analysisFile = path.join(root, 'bench/analysis.md');
    const analysis = existsSync(analysisFile) ? readFileSync(analysisFile, 'utf8') : '';
    const invocation = quick ? 'npm run bench:smoke' : `npm run bench${only.length < Object.keys(SUITES).length ? ` -- --only ${only.join(',')}` : ''}`;
    writeFileSync(out, markdown(machine, results, invocation, analysis));
    log(`wrote ${path.relative(root, out)}`);
  }
  return failed ? 1 : 0;
}

main().then(
  (code) => { process.exitCode = code; },
  (err: unknown) => {
    process.stderr.write(`bench failed: ${(err as Error).message}\n`);
    process.exitCode = 1;
  },
);
