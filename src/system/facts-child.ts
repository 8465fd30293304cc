// Hardware, OS and network facts read by a child process (`rmagent facts`, src/cli/facts.ts) rather than in the
// daemon: systeminformation (~2 MB once loaded, and it stays loaded) and the buffers of the ~20 commands it runs
// are gone when the child exits, so a daemon that has sent an inventory idles as small as one that has not
// (docs/benchmarks.md). The child's output crosses a process boundary: it is parsed, never trusted.
import * as z from 'zod/mini';
import type { CommandRunner } from './exec.js';
import type { SystemFacts } from './packages.js';
import type { SelfInvocation } from './self.js';
import { facts, MAX_FACT_ROWS } from '../protocol/report-data.js';

// The groups of facts an inventory report may carry (protocol/report-data.ts), so what the child prints is sent as
// it is. Built at each use and not kept: the daemon reads hardware facts once a day or so, and idles without it.
export function systemFactsSchema() {
  const group = facts();
  const rows = z.array(group).check(z.maxLength(MAX_FACT_ROWS));
  return z.object({ system: group, bios: group, os: group, cpu: group, memory: group, disks: rows, network: rows });
}

/** systeminformation runs dmidecode, lsblk, ip…; a stuck one is its own timeout's business, the whole gets this. */
export const FACTS_TIMEOUT_MS = 120_000;
const MAX_OUTPUT = 4 * 1024 * 1024;

/** Runs `rmagent facts` through `runner` (niced by the caller) and returns what it printed, validated. */
export async function readSystemFactsInChild(runner: CommandRunner, self: SelfInvocation): Promise<SystemFacts> {
  const r = await runner.run(self.command, [...self.args, 'facts'], { timeoutMs: FACTS_TIMEOUT_MS, maxBuffer: MAX_OUTPUT });
  const why = (detail: string) => new Error(`hardware facts not read: rmagent facts ${detail}`);
  if (r.code !== 0) throw why(r.error ? `did not run (${r.error})` : `exited ${r.code}: ${r.stderr.trim().split('\n').pop()?.slice(0, 300) ?? ''}`);
  let json: unknown;
  try {
    json = JSON.parse(r.stdout);
  } catch {
    throw why('printed no JSON');
  }
  const parsed = systemFactsSchema().safeParse(json);
  if (!parsed.success) throw why(`printed facts of the wrong shape: ${parsed.error.issues.slice(0, 2).map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
  return parsed.data;
}
