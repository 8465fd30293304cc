// Where each verified command goes: desired state and service/policy commands to the converger, the rest to
// the service that owns them. Commands arrive already checked (signature, device, window, replay) and one at
// a time from the connection.
import type { CommandType, Frame } from '../protocol/frames.js';
import type { ServiceName } from '../protocol/model.js';
import { isStateCommand, type StateFloorStore } from './state-floor.js';
import type { CommandHandler, CommandOutcome, Converger } from './contracts.js';

// Service-specific commands and the service that handles them.
const OWNER: Partial<Record<CommandType, ServiceName>> = {
  'inventory.request': 'assets',
  'backup.run': 'backup',
  'backup.restore': 'backup',
  'patches.install': 'patches',
  'patches.scan': 'patches',
  'alert.ack': 'monitoring',
};

export interface CommandDispatcherDeps {
  converger: Converger;
  /** Refuses state commands older than the state in force (state-floor.ts). */
  floor: StateFloorStore;
  /** Send a status report and fresh TeamViewer facts now. */
  sendStatus(): Promise<void>;
  /** Applies a verified key.rotate to the pinned server keys (key-rotation.ts decides what it may change). */
  rotateKeys(frame: Frame<'key.rotate'>): Promise<CommandOutcome>;
  /** Records TLS pins a verified key.rotate announced (tls-pins.ts decides whether they apply). */
  learnTlsPins(pins: string[]): Promise<CommandOutcome>;
  /** Whether an announced pin set may be taken at all (checked before anything in the key.rotate changes). */
  checkTlsPins(pins: string[]): { code: string; message: string } | null;
}

export function createCommandDispatcher(deps: CommandDispatcherDeps): CommandHandler {
  return async (frame) => {
    if (isStateCommand(frame)) {
      const fresh = await deps.floor.admit(frame);
      if (!fresh.ok) return { status: 'rejected', reason: { code: fresh.code, message: fresh.message } };
    }
    switch (frame.type) {
      case 'desired':
        return deps.converger.setDesired(frame.body.state, frame.body.actor);
      case 'service.install':
      case 'service.uninstall':
      case 'policy.assign':
        return deps.converger.applyCommand(frame);
      case 'status.request':
        await deps.sendStatus();
        return { status: 'done' };
      case 'key.rotate': {
        const { pins } = frame.body;
        // Bad pins refuse the whole command before anything changes.
        const invalid = pins ? deps.checkTlsPins(pins) : null;
        if (invalid) return { status: 'rejected', reason: invalid };
        const keys = await deps.rotateKeys(frame as Frame<'key.rotate'>);
        return pins && keys.status === 'done' ? deps.learnTlsPins(pins) : keys;
      }
      default:
        return routeToService(deps.converger, frame);
    }
  };
}

async function routeToService(converger: Converger, frame: Frame & { type: CommandType }): Promise<CommandOutcome> {
  const name = OWNER[frame.type];
  const service = name ? converger.service(name) : undefined;
  const outcome = service?.handleCommand ? await service.handleCommand(frame) : undefined;
  return outcome ?? { status: 'rejected', reason: { code: 'SERVICE_NOT_SUPPORTED', message: `${frame.type}: the ${name ?? 'target'} service is not installed on this device` } };
}
