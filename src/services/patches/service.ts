// Patch Management on the device: scans pending updates on the policy's schedule and reports them
// (kind 'patches', event 'scan'); installs them only when decideInstall() says so and reports each run
// (event 'install'). Scans and installs are heavy jobs; installs also re-check the window at their turn. The command
// patches.scan asks for a scan now.
import path from 'node:path';
import * as z from 'zod/mini';
import { ensureDir, readJsonFile, removeFile, writeJsonAtomic } from '../../system/files.js';
import { createSystemRunner, type SystemChangeRunner } from '../../system/system-runner.js';
import { installUpdates, readPendingUpdates, type PendingUpdatesOutput, type SoftwarePlatform, type UpdateManager } from '../../system/packages.js';
import { problem, type Problem } from '../../protocol/errors.js';
import type { Policy } from '../../protocol/model.js';
import type { CommandOutcome, RmService, ServiceFactory, ServiceRuntime } from '../../agent/contracts.js';
import { createNicedRunner, createTicker, isDue, type HeavyJobScheduler } from '../budget.js';
import { allowChangesFileOfService, changesAllowed } from '../opt-in.js';
import { decideInstall } from './plan.js';
import { patchesDefaultSettings, patchesPolicySchema, type PatchesPolicy } from '../../protocol/policies/patches.js';
import { parseAptUpgradable, parseDnfCheckUpdate, parseSoftwareUpdateList, parseWindowsUpdateJson, type PendingUpdate, type UpdateSeverity } from './updates-parse.js';
import { MAX_OUTPUT_TAIL } from '../../protocol/report-data.js';

export interface PatchesDeps {
  scheduler: HeavyJobScheduler;
  root?: string;
  platform?: SoftwarePlatform;
  tickMs?: number;
  /** The local opt-in file (../opt-in.ts); default: `allow-changes` in the agent's state folder. */
  allowChangesFile?: string;
  /** Runs installs (and index refreshes) outside the agent's sandbox (system/system-runner.ts); default: a child. */
  changes?: SystemChangeRunner;
}

const StateSchema = z.object({ lastScanAt: z.nullable(z.number()), lastInstallAt: z.nullable(z.number()), manager: z.nullable(z.string()), pending: z.array(z.custom<PendingUpdate>()) });
type PatchesState = z.infer<typeof StateSchema>;
const EMPTY: PatchesState = { lastScanAt: null, lastInstallAt: null, manager: null, pending: [] };

/** Pending updates from one tool's answer; a failed query is an error, "no updates" is an empty list. */
export function pendingFrom(out: PendingUpdatesOutput): PendingUpdate[] {
  const { manager, result } = out;
  // dnf/yum check-update: 100 = updates available, 0 = none.
  const ok = result.code === 0 || ((manager === 'dnf' || manager === 'yum') && result.code === 100);
  if (!ok) throw new Error(`${manager}: ${result.error ?? `exit ${result.code}`} ${result.stderr.trim().slice(0, 300)}`.trim());
  if (manager === 'apt') return parseAptUpgradable(result.stdout);
  if (manager === 'dnf' || manager === 'yum') return parseDnfCheckUpdate(result.stdout);
  if (manager === 'softwareupdate') return parseSoftwareUpdateList(`${result.stdout}\n${result.stderr}`);
  return parseWindowsUpdateJson(result.stdout);
}

export function createPatchesService(deps: PatchesDeps): ServiceFactory {
  return (runtime) => patchesService(deps, runtime);
}

function patchesService(deps: PatchesDeps, runtime: ServiceRuntime): RmService {
  const stateFile = path.join(runtime.stateDir, 'patches.json');
  const allowFile = deps.allowChangesFile ?? allowChangesFileOfService(runtime.stateDir);
  const platform = deps.platform ?? (process.platform as SoftwarePlatform);
  const ctx = () => ({ runner: createNicedRunner(runtime.runner, platform), root: deps.root ?? '/', platform });
  // Without a runner from the composition root (tests), changes run as plain (niced) children.
  const changes = deps.changes ?? createSystemRunner({ runner: createNicedRunner(runtime.runner, platform), workDir: runtime.stateDir, systemd: false });
  let policy: PatchesPolicy = patchesDefaultSettings;
  // Aborted by stop()/uninstall(): drops this service's waiting heavy jobs and tells a running one.
  let lastError: string | null = null;
  /** A set-up reason why autoInstall cannot work (shown in status), not a transient one like the window. */
  let blocked: string | null = null;

  const loadState = async (): Promise<PatchesState> => {
    const r = await readJsonFile(stateFile, StateSchema);
    return r.status === 'ok' ? r.value : EMPTY;
  };

  async function scan(maxJitterMs: number): Promise<PatchesState | null> {
    const result = await deps.scheduler.run('patch-scan', async () => readPendingUpdates(ctx(), { refresh: policy.refresh, changes }), { maxJitterMs, signal: ticker.signal });
    if (!result.ran) return null;
    if (!result.value) throw new Error('no supported update tool found (apt, dnf, yum, softwareupdate, Windows Update)');
    const pending = pendingFrom(result.value);
    const scannedAt = runtime.clock.now();
    const bySeverity: Partial<Record<UpdateSeverity, number>> = {};
    for (const u of pending) bySeverity[u.severity] = (bySeverity[u.severity] ?? 0) + 1;
    await runtime.report('patches', { event: 'scan', manager: result.value.manager, scannedAt, count: pending.length, bySeverity, pending });
    const state: PatchesState = { ...(await loadState()), lastScanAt: scannedAt, manager: result.value.manager, pending };
    await writeJsonAtomic(stateFile, state);
    return state;
  }

  /** Installs if allowed now; returns why not otherwise. Every run that starts is reported. */
  async function maybeInstall(state: PatchesState): Promise<CommandOutcome> {
    const decision = decideInstall({ policy, optedIn: await changesAllowed(allowFile), now: new Date(runtime.clock.now()), pending: state.pending, lastInstallAt: state.lastInstallAt });
    blocked = !decision.install && (decision.reason === 'not-opted-in' || decision.reason === 'no-window') ? decision.reason : null;
    if (!decision.install) return { status: 'rejected', reason: { code: 'PATCH_INSTALL_NOT_ALLOWED', message: decision.reason } };
    const manager = state.manager as UpdateManager;
    const startedAt = runtime.clock.now();
    await writeJsonAtomic(stateFile, { ...state, lastInstallAt: startedAt });
    const run = await deps.scheduler.run('patch-install', () => installUpdates(changes, manager, decision.names), { window: policy.window, signal: ticker.signal });
    if (!run.ran) return { status: 'rejected', reason: { code: 'PATCH_INSTALL_NOT_ALLOWED', message: run.reason } };
    const r = run.value;
    const succeeded = r.code === 0;
    await runtime.report('patches', {
      event: 'install',
      manager,
      startedAt,
      durationMs: runtime.clock.now() - startedAt,
      requested: decision.names.length ? decision.names : 'all',
      result: succeeded ? 'succeeded' : 'failed',
      exitCode: r.code,
      ...(r.error ? { error: r.error.slice(0, 2048) } : {}),
      // The last 20 lines, and of those the last MAX_OUTPUT_TAIL characters (a progress line can be long).
      outputTail: (succeeded ? r.stdout : `${r.stdout}\n${r.stderr}`).trim().split('\n').slice(-20).join('\n').slice(-MAX_OUTPUT_TAIL),
    });
    if (!succeeded) return { status: 'failed', reason: { code: 'SERVICE_FAILED', message: `${manager} exited ${r.code ?? r.error}` } };
    await scan(0); // what is still pending after the run
    return { status: 'done' };
  }

  async function tick(): Promise<void> {
    let state = await loadState();
    if (isDue(policy.schedule, state.lastScanAt, new Date(runtime.clock.now()))) state = (await scan(policy.maxJitterSec * 1000)) ?? state;
    if (state.manager) await maybeInstall(state);
    lastError = null;
  }

  const onError = (err: unknown) => {
    lastError = err instanceof Error ? err.message : String(err);
    runtime.logger.error('patches: run failed', { error: lastError });
  };

  const ticker = createTicker(deps.tickMs ?? 60_000, tick, onError);

  /** patches.scan: scan and report now (no jitter, never an install), like inventory.request for the inventory. */
  async function scanNow(): Promise<CommandOutcome> {
    try {
      const state = await scan(0);
      if (!state) return { status: 'rejected', reason: { code: 'SERVICE_FAILED', message: 'Patch Management is stopping' } };
      lastError = null;
      return { status: 'done' };
    } catch (err) {
      onError(err);
      return { status: 'failed', reason: { code: 'SERVICE_FAILED', message: lastError ?? 'patch scan failed' } };
    }
  }

  return {
    name: 'patches',
    policySchema: patchesPolicySchema,
    async install() {
      await ensureDir(runtime.stateDir);
    },
    async apply(_policy: Policy, settings: unknown) {
      policy = patchesPolicySchema.parse(settings ?? {});
      ticker.start();
    },
    async uninstall() {
      await ticker.stop();
      await removeFile(stateFile);
    },
    async stop() {
      await ticker.stop();
    },
    problems(): Problem[] {
      const found: Problem[] = [];
      if (lastError) found.push(problem('SERVICE_FAILED', `patches: ${lastError}`));
      if (blocked === 'not-opted-in') found.push(problem('PATCH_INSTALL_NOT_ALLOWED', `autoInstall is on but ${allowFile} does not exist`));
      if (blocked === 'no-window') found.push(problem('PATCH_INSTALL_NOT_ALLOWED', 'autoInstall is on but the policy has no maintenance window'));
      return found;
    },
    async handleCommand(frame) {
      if (frame.type === 'patches.scan') return scanNow();
      if (frame.type !== 'patches.install') return undefined;
      try {
        const state = await scan(0);
        if (!state) return { status: 'rejected', reason: { code: 'PATCH_INSTALL_NOT_ALLOWED', message: 'stopped' } };
        return await maybeInstall(state);
      } catch (err) {
        onError(err);
        return { status: 'failed', reason: { code: 'SERVICE_FAILED', message: lastError ?? 'patch run failed' } };
      }
    },
  };
}
