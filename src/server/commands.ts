// Commands to devices: recorded in the store, signed and sent when the device is online, queued otherwise
// and sent (freshly signed, same id) when it next connects; the device's ack updates the record.
import type { BodyOf, CommandType, Frame } from '../protocol/frames.js';
import type { Clock } from '../system/clock.js';
import type { Logger } from '../log.js';
import type { CommandSigner } from './signer.js';
import type { CommandRecord, Store } from './store.js';
import { newId } from './secrets.js';

/** Commands kept per device for GET /devices/:id/commands. */
const MAX_COMMANDS_PER_DEVICE = 200;

export interface CommandTransport {
  /** Sends to the device's live connection; false when it has none. */
  send(deviceId: string, frame: Frame): boolean;
}

export interface CommandQueue {
  /** Records and sends (or queues) a command; resolves once the record is on disk. */
  issue<T extends CommandType>(type: T, body: BodyOf<T>): Promise<CommandRecord>;
  /** Sends what waited for this device (called right after its handshake). */
  deliverQueued(deviceId: string): Promise<void>;
  recordAck(deviceId: string, ack: BodyOf<'ack'>): Promise<void>;
}

export function createCommandQueue(ctx: { store: Store; signer: CommandSigner; clock: Clock; logger: Logger; transport: CommandTransport }): CommandQueue {
  const { store, signer, clock, logger, transport } = ctx;

  const trySend = (record: CommandRecord): boolean => {
    const frame = signer.sign(record.type as CommandType, record.body as BodyOf<CommandType>, clock.now(), record.id);
    return transport.send(record.deviceId, frame);
  };

  const trim = (deviceId: string) => {
    const mine = store.data.commands.filter((c) => c.deviceId === deviceId);
    if (mine.length <= MAX_COMMANDS_PER_DEVICE) return;
    const oldest = mine[0]!;
    store.data.commands.splice(store.data.commands.indexOf(oldest), 1);
  };

  return {
    async issue(type, body) {
      const now = clock.now();
      const deviceId = body.deviceId;
      const record: CommandRecord = {
        id: newId('cmd'),
        deviceId,
        type,
        body: body as Record<string, unknown>,
        actor: body.actor ?? null,
        createdAt: now,
        status: 'queued',
        reason: null,
        updatedAt: now,
      };
      if (trySend(record)) record.status = 'sent';
      store.data.commands.push(record);
      trim(deviceId);
      await store.commit();
      logger.info('command issued', { commandId: record.id, type, deviceId, status: record.status });
      return record;
    },
    async deliverQueued(deviceId) {
      const queued = store.data.commands.filter((c) => c.deviceId === deviceId && c.status === 'queued');
      let changed = false;
      for (const record of queued) {
        if (!trySend(record)) break;
        Object.assign(record, { status: 'sent', updatedAt: clock.now() });
        changed = true;
      }
      if (changed) await store.commit();
    },
    async recordAck(deviceId, ack) {
      const record = store.data.commands.find((c) => c.id === ack.commandId && c.deviceId === deviceId);
      if (!record) {
        // Acks for commands the server does not track (the desired state) are only logged.
        logger.debug('ack for an untracked command', { deviceId, commandId: ack.commandId, status: ack.status });
        return;
      }
      Object.assign(record, { status: ack.status, reason: ack.reason ?? null, updatedAt: clock.now() });
      await store.commit();
    },
  };
}
