// The Monitoring service on its own with real edges (files, /proc, statfs, the command runner), reports collected.
import { afterEach } from 'vitest';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { CommandType, Frame } from '../../../src/protocol/frames.js';
import { makeFrame } from '../../../src/protocol/frames.js';
import type { Policy } from '../../../src/protocol/model.js';
import type { RmService, ServiceRuntime } from '../../../src/agent/contracts.js';
import { createMonitoringServiceWith } from '../../../src/services/monitoring/service.js';
import type { MatchPacing } from '../../../src/services/monitoring/log-match.js';
import { MonitoringPolicySchema } from '../../../src/protocol/policies/monitoring.js';
import { silentLogger } from '../../../src/log.js';
import { systemClock } from '../../../src/system/clock.js';
import { createCommandRunner } from '../../../src/system/exec.js';
import { createSysinfo, type Sysinfo } from '../../../src/system/sysinfo.js';

export type Report = { kind: string; data: Record<string, unknown> };

const cleanup: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
});
export const onCleanup = (c: () => Promise<unknown>) => cleanup.push(c);

export async function tempDir(prefix = 'rmagent-monitoring-'): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), prefix));
  onCleanup(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

export interface Harness {
  dir: string;
  reports: Report[];
  service: RmService;
  runtime: ServiceRuntime;
  apply(settings: Record<string, unknown>): Promise<void>;
  /** A fresh service on the same state folder (an agent restart). */
  restart(): RmService;
  ack(key: string, actor?: string): Promise<unknown>;
  raised(key?: string): Report[];
  cleared(key?: string): Report[];
}

export async function setup(options: { binPath?: string; sysinfo?: Sysinfo; pacing?: MatchPacing; platform?: string } = {}): Promise<Harness> {
  const dir = await tempDir();
  const reports: Report[] = [];
  const runtime: ServiceRuntime = {
    report: async (kind, data) => void reports.push({ kind, data }),
    stateDir: path.join(dir, 'state'),
    // The agent's whole state folder (device key, registration) as the converger names it.
    privateDirs: [path.join(dir, 'agent-state')],
    logger: silentLogger(),
    runner: createCommandRunner(options.binPath ? { path: options.binPath } : {}),
    clock: systemClock,
  };
  const make = () => {
    const s = createMonitoringServiceWith(runtime, options.sysinfo ?? createSysinfo(), { pacing: options.pacing, platform: options.platform });
    onCleanup(() => s.stop());
    return s;
  };
  const h: Harness = {
    dir,
    reports,
    service: make(),
    runtime,
    apply: (settings) => h.service.apply(policy(settings), MonitoringPolicySchema.parse(settings)),
    restart: () => (h.service = make()),
    ack: (key, actor = 'alice') => h.service.handleCommand!(makeFrame('alert.ack', { deviceId: 'd', actor, key }) as Frame & { type: CommandType }),
    raised: (key) => reports.filter((r) => r.kind === 'alert.raised' && (!key || r.data.key === key)),
    cleared: (key) => reports.filter((r) => r.kind === 'alert.cleared' && (!key || r.data.key === key)),
  };
  await h.service.install();
  return h;
}

export const policy = (settings: Record<string, unknown>): Policy => ({ id: 'p', name: 'p', service: 'monitoring', version: 1, settings });

export async function waitFor<T>(what: string, probe: () => T | undefined | false | null | 0, timeoutMs = 8_000): Promise<T> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const v = probe();
    if (v) return v;
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
