// Which services this agent can run: one factory per service name. Other services register here in one line.
import type { z } from 'zod';
import type { ServiceName } from '../protocol/model.js';
import type { RmService, ServiceFactory, ServiceRuntime } from '../agent/contracts.js';
import { silentLogger } from '../log.js';
import { createMonitoringService } from './monitoring/service.js';

export interface ServiceRegistry {
  supported: readonly ServiceName[];
  create(name: ServiceName, runtime: ServiceRuntime): RmService | undefined;
  policySchema(name: ServiceName): z.ZodType | undefined;
}

export const defaultServiceFactories: Partial<Record<ServiceName, ServiceFactory>> = {
  monitoring: createMonitoringService,
};

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
