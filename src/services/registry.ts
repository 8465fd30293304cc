// Which services this agent can run: one loader per service name. Other services register here in one line.
// A service's code (and its policy schemas) is loaded the first time a policy names it, so a device pays only for
// the services it runs (bench/analysis.md: -0.45 MB idle RSS with Monitoring alone).
import type * as z from 'zod/mini';
import type { ServiceName } from '../protocol/model.js';
import type { RmService, ServiceFactory, ServiceRuntime } from '../agent/contracts.js';
import { silentLogger } from '../log.js';
import type { HeavyJobScheduler } from './budget.js';
import type { SystemChangeRunner } from '../system/system-runner.js';
import type { SelfInvocation } from '../system/self.js';
import { loadOnce } from '../system/load-once.js';

export interface ServiceRegistry {
  supported: readonly ServiceName[];
  create(name: ServiceName, runtime: ServiceRuntime): Promise<RmService | undefined>;
  policySchema(name: ServiceName): Promise<z.ZodMiniType | undefined>;
}

/** Loads a service's module and gives its factory. */
export type ServiceLoader = () => Promise<ServiceFactory>;

/** Every service this agent runs. Asset, Patch and Backup Management share one heavy-job scheduler, so a
 * device never does two heavy jobs at once. Endpoint Protection is deliberately absent (SERVICE_NOT_SUPPORTED). */
export function serviceLoaders(scheduler: HeavyJobScheduler, changes?: SystemChangeRunner, self?: SelfInvocation): Partial<Record<ServiceName, ServiceLoader>> {
  return {
    monitoring: async () => (await import('./monitoring/service.js')).createMonitoringService,
    // With `self`, the hardware facts come from a child (`rmagent facts`): systeminformation never stays in the daemon.
    assets: async () => (await import('./assets/service.js')).createAssetsService({ scheduler, ...(self ? { factsCommand: self } : {}) }),
    patches: async () => (await import('./patches/service.js')).createPatchesService({ scheduler, ...(changes ? { changes } : {}) }),
    backup: async () => (await import('./backup/service.js')).createBackupService({ scheduler, ...(changes ? { changes } : {}), ...(self ? { self } : {}) }),
  };
}

// Factories only assign (STYLE.md), so an inert runtime is enough to read a service's policy schema
// before the service is installed (the converger validates a policy before installing anything).
const inertRuntime = (): ServiceRuntime => ({
  report: async () => undefined,
  stateDir: '',
  logger: silentLogger(),
  runner: { run: async () => ({ code: null, stdout: '', stderr: '', error: 'ENOTSUP' }) },
  clock: { now: () => 0, monotonic: () => 0 },
});

export function createServiceRegistry(loaders: Partial<Record<ServiceName, ServiceLoader>>): ServiceRegistry {
  const schemas = new Map<ServiceName, z.ZodMiniType>();
  const supported = (Object.keys(loaders) as ServiceName[]).filter((n) => typeof loaders[n] === 'function');
  // One load per service; a failed load is forgotten so the next use tries again.
  const factories = new Map(supported.map((n) => [n, loadOnce(loaders[n]!)]));
  const factoryOf = (name: ServiceName): Promise<ServiceFactory> | undefined => factories.get(name)?.();
  return {
    supported,
    async create(name, runtime) {
      return (await factoryOf(name))?.(runtime);
    },
    async policySchema(name) {
      const factory = await factoryOf(name);
      if (!factory) return undefined;
      if (!schemas.has(name)) schemas.set(name, factory(inertRuntime()).policySchema);
      return schemas.get(name);
    },
  };
}
