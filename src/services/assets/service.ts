// Asset Management on the device: collects the inventory on the policy's schedule through the heavy-job
// scheduler, sends it in full once and then only what changed; `inventory.request {full:true}` resends it.
import path from 'node:path';
import * as z from 'zod/mini';
import { ensureDir, readJsonFile, removeFile, writeJsonAtomic } from '../../system/files.js';
import { readInstalledSoftware, readSystemFacts, type SoftwarePlatform, type SystemFacts } from '../../system/packages.js';
import { readSystemFactsInChild } from '../../system/facts-child.js';
import type { SelfInvocation } from '../../system/self.js';
import { problem, type Problem } from '../../protocol/errors.js';
import type { Policy } from '../../protocol/model.js';
import type { CommandOutcome, RmService, ServiceFactory, ServiceRuntime } from '../../agent/contracts.js';
import { createNicedRunner, createTicker, isDue, type HeavyJobScheduler } from '../budget.js';
import { buildInventory, changeCount, diffInventory, fitInventory, type Inventory } from './inventory.js';
import { assetsDefaultSettings, assetsPolicySchema, type AssetsPolicy } from '../../protocol/policies/assets.js';

export interface AssetsDeps {
  scheduler: HeavyJobScheduler;
  /** Folder OS paths are resolved under (default '/'). */
  root?: string;
  platform?: SoftwarePlatform;
  /** How often the schedule is checked (ms). */
  tickMs?: number;
  /** Hardware/OS/network facts (default: `factsCommand` when given, else systeminformation in this process). */
  readFacts?: () => Promise<SystemFacts>;
  /** This rmagent, run as `rmagent facts` (niced) for the hardware facts, so systeminformation never loads in the daemon. */
  factsCommand?: SelfInvocation;
}

const EMPTY_FACTS: SystemFacts = { system: {}, bios: {}, os: {}, cpu: {}, memory: {}, disks: [], network: [] };
const StateSchema = z.object({
  lastRunAt: z.nullable(z.number()),
  /** The inventory the server has (as queued in the durable outbox); the base of the next diff. */
  sent: z.nullable(z.custom<Inventory>((v) => !!v && typeof v === 'object' && Array.isArray((v as Inventory).software))),
});
type AssetsState = z.infer<typeof StateSchema>;

export function createAssetsService(deps: AssetsDeps): ServiceFactory {
  return (runtime) => assetsService(deps, runtime);
}

function assetsService(deps: AssetsDeps, runtime: ServiceRuntime): RmService {
  const stateFile = path.join(runtime.stateDir, 'inventory.json');
  const platform = deps.platform ?? (process.platform as SoftwarePlatform);
  let policy: AssetsPolicy = assetsDefaultSettings;
  // Aborted by stop()/uninstall(): drops this service's waiting heavy jobs and tells a running one.
  let lastError: string | null = null;
  // When the last inventory ran (undefined: not read yet). The schedule needs only this, and the state file holds the
  // whole inventory last sent (~190 KB for ~900 packages): read once, not parsed again every tick (docs/benchmarks.md,
  // issue 19: each parse briefly raised the idle agent's memory).
  let lastRunAt: number | null | undefined;

  const loadState = async (): Promise<AssetsState> => {
    const r = await readJsonFile(stateFile, StateSchema);
    if (r.status === 'invalid') runtime.logger.warn('assets: inventory state unreadable, sending a full inventory', { reason: r.reason });
    return r.status === 'ok' ? r.value : { lastRunAt: null, sent: null };
  };

  async function collect(): Promise<Inventory> {
    const ctx = { runner: createNicedRunner(runtime.runner, platform), root: deps.root ?? '/', platform };
    const readFacts = deps.readFacts ?? (deps.factsCommand ? () => readSystemFactsInChild(ctx.runner, deps.factsCommand!) : readSystemFacts);
    const [facts, software] = await Promise.all([
      policy.hardware ? readFacts() : EMPTY_FACTS,
      policy.software ? readInstalledSoftware(ctx) : { outputs: [], warnings: [] },
    ]);
    for (const w of software.warnings) runtime.logger.warn('assets: software source', { warning: w });
    return buildInventory(facts, software.outputs);
  }

  /** Collects and reports: full when asked or when the server has nothing yet, else the diff. */
  async function run(full: boolean, maxJitterMs: number): Promise<CommandOutcome> {
    const result = await deps.scheduler.run('inventory', collect, { maxJitterMs, signal: ticker.signal });
    if (!result.ran) return { status: 'failed', reason: { code: 'SERVICE_FAILED', message: `inventory not collected: ${result.reason}` } };
    const inventory = result.value;
    const state = await loadState();
    const collectedAt = runtime.clock.now();
    if (full || !state.sent) {
      const fitted = fitInventory(inventory);
      if (fitted.omitted) runtime.logger.warn('assets: full inventory too large for one report; software list cut', { omitted: fitted.omitted });
      await runtime.report('inventory', { full: true, collectedAt, inventory: fitted.inventory, counts: { software: inventory.software.length, omitted: fitted.omitted } });
    } else {
      // Sent even when empty: the server learns the inventory is fresh at ~100 bytes.
      const changes = diffInventory(state.sent, inventory);
      await runtime.report('inventory', { full: false, collectedAt, changes, counts: { added: changes.added.length, removed: changes.removed.length, changed: changes.changed.length, total: changeCount(changes) } });
    }
    await writeJsonAtomic(stateFile, { lastRunAt: collectedAt, sent: inventory } satisfies AssetsState);
    lastRunAt = collectedAt;
    lastError = null;
    return { status: 'done' };
  }

  const onError = (err: unknown) => {
    lastError = err instanceof Error ? err.message : String(err);
    runtime.logger.error('assets: inventory failed', { error: lastError });
  };

  async function tick(): Promise<void> {
    if (lastRunAt === undefined) lastRunAt = (await loadState()).lastRunAt;
    if (!isDue(policy.schedule, lastRunAt, new Date(runtime.clock.now()))) return;
    const outcome = await run(false, policy.maxJitterSec * 1000);
    if (outcome.status === 'failed' && outcome.reason) runtime.logger.info('assets: scheduled run skipped', { reason: outcome.reason.message });
  }

  const ticker = createTicker(deps.tickMs ?? 60_000, tick, onError);

  return {
    name: 'assets',
    policySchema: assetsPolicySchema,
    async install() {
      await ensureDir(runtime.stateDir);
    },
    async apply(_policy: Policy, settings: unknown) {
      policy = assetsPolicySchema.parse(settings ?? {});
      ticker.start();
    },
    async uninstall() {
      await ticker.stop();
      await removeFile(stateFile);
      lastRunAt = undefined;
    },
    async stop() {
      await ticker.stop();
    },
    problems(): Problem[] {
      return lastError ? [problem('SERVICE_FAILED', `assets: ${lastError}`)] : [];
    },
    async handleCommand(frame) {
      if (frame.type !== 'inventory.request') return undefined;
      try {
        return await run(frame.body.full, 0);
      } catch (err) {
        onError(err);
        return { status: 'failed', reason: { code: 'SERVICE_FAILED', message: lastError ?? 'inventory failed' } };
      }
    },
  };
}
