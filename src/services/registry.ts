// Which services this agent can run: one factory per service name. Other services register here in one line.
import type * as z from 'zod';
import type { ServiceName } from '../protocol/model.js';
import type { RmService, ServiceFactory, ServiceRuntime } from '../agent/contracts.js';
import { silentLogger } from '../log.js';
import { createMonitoringService } from './monitoring/service.js';
import type { HeavyJobScheduler } from './budget.js';
import { createAssetsService } from './assets/service.js';
import { createPatchesService } from './patches/service.js';
import { createBackupService } from './backup/service.js';

export interface ServiceRegistry {
  supported: readonly ServiceName[];
  create(name: ServiceName, runtime: ServiceRuntime): RmService | undefined;
  policySchema(name: ServiceName): z.ZodType | undefined;
}

/** Every service this agent runs. Asset, Patch and Backup Management share one heavy-job scheduler, so a
 * device never does two heavy jobs at once. Endpoint Protection is deliberately absent (SERVICE_NOT_SUPPORTED). */
export function serviceFactories(scheduler: HeavyJobScheduler): Partial<Record<ServiceName, ServiceFactory>> {
  return {
    monitoring: createMonitoringService,
    assets: createAssetsService({ scheduler }),
    patches: createPatchesService({ scheduler }),
    backup: createBackupService({ scheduler }),
  };
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
