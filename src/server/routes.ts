// Every API route, built from the parts the composition root hands over.
import type { Clock } from '../system/clock.js';
import type { Logger } from '../log.js';
import type { CommandQueue } from './commands.js';
import type { Route } from './http.js';
import type { Keyring } from './keyring.js';
import type { Store } from './store.js';
import { consoleRoutes } from './routes-console.js';
import { deviceRoutes } from './routes-devices.js';
import { keyRoutes } from './routes-keys.js';
import { serviceRoutes } from './routes-services.js';

export interface ApiDeps {
  store: Store;
  clock: Clock;
  logger: Logger;
  commands: CommandQueue;
  fleet: { isOnline(deviceId: string): boolean };
  keyring: Keyring;
  /** Pin (base64 SHA-256 of the SPKI) of the certificate served now; null without --tls-cert. */
  servingTlsPin: string | null;
}

export function allRoutes(deps: ApiDeps): Route[] {
  return [...consoleRoutes(deps), ...deviceRoutes(deps), ...serviceRoutes(deps), ...keyRoutes(deps)];
}
