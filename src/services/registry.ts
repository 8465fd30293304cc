// Which services this agent can run: one factory per service name. Other services register here in one line.
import type { z } from 'zod';
import type { ServiceName } from '../protocol/model.js';
import type { RmService, ServiceFactory, ServiceRuntime } from '../agent/contracts.js';
import { silentLogger } from '../log.js';
import { createMonitoringService } from './monitoring/service.js';
import { createHeavyJobScheduler, type HeavyJobScheduler } from './budget.js';
import { createAssetsService } from './assets/service.js';
import { createPatchesService } from './patches/service.js';
import { createBackupService } from './backup/service.js';

export interface ServiceRegistry {
  supported: readonly ServiceName[];
  create(name: ServiceName, runtime: ServiceRuntime): RmService | undefined;
  policySchema(name: ServiceName): z.ZodType | undefined;
}

export const defaultServiceFactories: Partial<Record<ServiceName, ServiceFactory>> = {
  monitoring: createMonitoringService,
  // Heavy services: each gets its own scheduler here; the composition root shares one via heavyServiceFactories().
  assets: (runtime) => createAssetsService({ scheduler: ownScheduler(runtime) })(runtime),
  patches: (runtime) => createPatchesService({ scheduler: ownScheduler(runtime) })(runtime),
  backup: (runtime) => createBackupService({ scheduler: ownScheduler(runtime) })(runtime),
};

const ownScheduler = (runtime: ServiceRuntime) => createHeavyJobScheduler({ clock: runtime.clock, random: Math.random });

/** Asset, Patch and Backup Management sharing one heavy-job scheduler (never two heavy jobs at once). */
export function heavyServiceFactories(scheduler: HeavyJobScheduler): Partial<Record<ServiceName, ServiceFactory>> {
  return { assets: createAssetsService({ scheduler }), patches: createPatchesService({ scheduler }), backup: createBackupService({ scheduler }) };
}

// Factories only assign (STYLE.md), so an inert runtime is enough to read a service's policy schema
// before the service is installed (the converger validates a policy before installing anything).
const inertRuntime = (): ServiceRuntime => ({
  report: async () => undefined,
  stateDir: '',
  logger: silentLogger(),
  runner: { run: async () => ({ code: null, stdout: '', stderr: '', error: 'ENOTSUP' }) },
  clock: { now: () => 0 },
});

export function createServiceRegistry(factories: Partial<Record<ServiceName, ServiceFactory>>): ServiceRegistry {
  const schemas = new Map<ServiceName, z.ZodType>();
  const supported = (Object.keys(factories) as ServiceName[]).filter((n) => typeof factories[n] === 'function');
  return {
    supported,
    create(name, runtime) {
      return factories[name]?.(runtime);
    },
    policySchema(name) {
      const factory = factories[name];
      if (!factory) return undefined;
      if (!schemas.has(name)) schemas.set(name, factory(inertRuntime()).policySchema);
      return schemas.get(name);
    },
  };
}
