// Every API route, built from the parts the composition root hands over. Console routes (sign-in, licences,
// pages) join here as more files of the same shape.
import { accountRoutes } from './accounts.js';
import { alertRoutes } from './alerts.js';
import type { ApiDeps } from './deps.js';
import { deviceRoutes } from './devices.js';
import { enrollmentTokenRoutes } from './enrollment-tokens.js';
import { keyRoutes } from './keys.js';
import { licenceRoutes } from './licences.js';
import { policyRoutes } from './policies.js';
import type { Route } from './route.js';
import { serviceRoutes } from './services.js';
import { signInRoutes } from './sign-in.js';
import { webhookRoutes } from './webhooks.js';

export function allRoutes(deps: ApiDeps): Route[] {
  return [
    ...accountRoutes(deps),
    ...enrollmentTokenRoutes(deps),
    ...deviceRoutes(deps),
    ...alertRoutes(deps),
    ...policyRoutes(deps),
    ...serviceRoutes(deps),
    ...webhookRoutes(deps),
    ...keyRoutes(deps),
    ...signInRoutes(deps),
    ...licenceRoutes(deps),
  ];
}
