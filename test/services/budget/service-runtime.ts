// A real ServiceRuntime for service tests: a temp state folder, the real command runner (stand-ins first
// on PATH when given), a clock the test controls, and reports collected in order as the outbox would. Every report
// is checked against the schema the server checks its kind with: a report the server would flag fails the test.
import { mkdtemp, rm, writeFile, chmod, mkdir } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { createCommandRunner } from '../../../src/system/exec.js';
import { fixedClock } from '../../../src/system/clock.js';
import { silentLogger } from '../../../src/log.js';
import type { ServiceRuntime } from '../../../src/agent/contracts.js';
import { describeIssues, REPORT_DATA_SCHEMAS, type ReportKind } from '../../../src/protocol/frames.js';

export interface Report {
  kind: ReportKind;
  data: Record<string, unknown>;
}

export async function tempDir(prefix: string): Promise<{ dir: string; cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(path.join(os.tmpdir(), `rmagent-${prefix}-`));
  return { dir, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

export function serviceRuntime(stateDir: string, options: { path?: string; now?: number } = {}) {
  const reports: Report[] = [];
  const clock = fixedClock(options.now ?? Date.now());
  const runtime: ServiceRuntime = {
    report: async (kind, data) => {
      const sent = JSON.parse(JSON.stringify(data)) as Record<string, unknown>;
      const checked = REPORT_DATA_SCHEMAS[kind].safeParse(sent);
      if (!checked.success) throw new Error(`the server would flag this ${kind} report invalid: ${describeIssues(checked.error)}`);
      reports.push({ kind, data: sent });
    },
    stateDir,
    logger: silentLogger(),
    runner: createCommandRunner({ path: options.path }),
    clock,
  };
  return { runtime, reports, clock };
}

/** Writes an executable stand-in script into `binDir`. */
export async function standIn(binDir: string, name: string, script: string): Promise<void> {
  await mkdir(binDir, { recursive: true });
  const file = path.join(binDir, name);
  await writeFile(file, `#!/bin/sh\n${script}\n`);
  await chmod(file, 0o755);
}
