// Commands to devices, persisted: recorded as queued, then sent (signed at sending time, same id) by whichever node
// holds the device's socket — told through the store's `command` topic, so the same path works across nodes.
//
// Invariants:
// - A command is recorded before it is sent, and marked sent before it goes on the wire: a crash at any point leaves
//   it queued or sent, and both are sent again when the device next connects.
// - On every (re)connect: commands the device had accepted but whose outcome never arrived end as `interrupted` (the
//   outcome travelled on the dead connection or the agent restarted); queued and sent-but-unacknowledged ones are sent
//   again in creation order (the agent's replay guard refuses what it already took, which also ends as interrupted).
// - Trust commands (key.rotate: server keys and TLS pins) are never expired, trimmed or refused for a full queue.
// - Deliveries to one device run one at a time.
import { RmError } from '../protocol/errors.js';
import type { BodyOf, CommandType, Frame } from '../protocol/frames.js';
import type { Clock } from '../system/clock.js';
import type { Logger } from '../log.js';
import type { CommandSigner } from './signer.js';
import type { CommandRecord, CommandStatus, Store, Transaction } from './store/store.js';
import { newId } from './secrets.js';

/** Commands that change whom the device trusts. */
export const TRUST_COMMANDS: readonly string[] = ['key.rotate'];
/** Pending (queued, sent, accepted) non-trust commands one device may have; more are refused with COMMAND_QUEUE_FULL. */
export const MAX_PENDING_COMMANDS_PER_DEVICE = 500;

export interface CommandTransport {
  /** Whether this node holds the device's socket now. */
  holds(deviceId: string): boolean;
  /** Sends on the device's socket; false when there is none. */
  send(deviceId: string, frame: Frame): boolean;
}

export type NewCommand = { [T in CommandType]: { type: T; body: BodyOf<T> } }[CommandType];

export interface CommandQueue {
  /** Records the commands (in one transaction, refused when a device's queue is full) and has them sent. */
  issue(commands: readonly NewCommand[], options?: { skipFullQueues?: boolean }): Promise<Array<CommandRecord | null>>;
  /** Sends what waits for the device; `reconnected` after its handshake (see the invariants above). */
  deliver(deviceId: string, options: { reconnected: boolean }): Promise<void>;
  /** Listens to the store's `command` topic; returns the unsubscribe function. */
  start(): () => void;
}

const INTERRUPTED = { code: 'COMMAND_INTERRUPTED', message: 'the device took this command, but the connection or the agent restarted before its outcome arrived; check the device and issue it again if needed' };

/** Which statuses an ack may move a command from, and to what. Pure. */
export function ackTransition(ack: BodyOf<'ack'>): { from: CommandStatus[]; to: { status: CommandStatus; reason: CommandRecord['reason'] } } {
  const reason = ack.reason ?? null;
  switch (ack.status) {
    case 'accepted':
      return { from: ['queued', 'sent'], to: { status: 'accepted', reason: null } };
    case 'done':
    case 'failed':
      // The late truth replaces `interrupted`.
      return { from: ['queued', 'sent', 'accepted', 'interrupted'], to: { status: ack.status, reason } };
    case 'rejected':
      // A redelivered command the agent had already taken: its first outcome was lost with the old connection.
      if (reason?.code === 'COMMAND_REPLAYED') return { from: ['sent'], to: { status: 'interrupted', reason: { code: INTERRUPTED.code, message: `the device answered COMMAND_REPLAYED: it had taken this command before the connection dropped, and its outcome was not received; ${INTERRUPTED.message.split('; ')[1]}` } } };
      return { from: ['queued', 'sent', 'accepted'], to: { status: 'rejected', reason } };
  }
}

export async function recordAck(tx: Pick<Transaction, 'commands'>, deviceId: string, ack: BodyOf<'ack'>, at: number): Promise<boolean> {
  const { from, to } = ackTransition(ack);
  return (await tx.commands.transition(deviceId, [ack.commandId], from, { ...to, at })) > 0;
}

export function createCommandQueue(ctx: { store: Store; signer: CommandSigner; clock: Clock; logger: Logger; transport: CommandTransport }): CommandQueue {
  const { store, signer, clock, logger, transport } = ctx;
  const running = new Map<string, Promise<void>>();

  async function deliverNow(deviceId: string, reconnected: boolean): Promise<void> {
    const now = clock.now();
    const pending = await store.commands.pending(deviceId);
    const accepted = pending.filter((c) => c.status === 'accepted').map((c) => c.id);
    if (reconnected && accepted.length) {
      await store.commands.transition(deviceId, accepted, ['accepted'], { status: 'interrupted', reason: INTERRUPTED, at: now });
      logger.info('commands interrupted by a reconnect', { deviceId, commands: accepted.length });
    }
    const toSend = pending.filter((c) => c.status === 'queued' || (reconnected && c.status === 'sent'));
    if (!toSend.length || !transport.holds(deviceId)) return;
    await store.commands.transition(deviceId, toSend.map((c) => c.id), ['queued', 'sent'], { status: 'sent', reason: null, at: now, sent: true });
    for (const record of toSend) {
      const frame = signer.sign(record.type as CommandType, record.body as BodyOf<CommandType>, clock.now(), record.id);
      if (!transport.send(deviceId, frame)) break; // marked sent: it goes again at the next connect
    }
    logger.debug('commands sent', { deviceId, commands: toSend.length, redelivered: toSend.filter((c) => c.status === 'sent').length });
  }

  const queue: CommandQueue = {
    async issue(commands, options = {}) {
      const now = clock.now();
      return store.transaction(async (tx) => {
        const out: Array<CommandRecord | null> = [];
        const records: CommandRecord[] = [];
        const checked = new Map<string, boolean>();
        for (const { type, body } of commands) {
          if (!TRUST_COMMANDS.includes(type)) {
            let room = checked.get(body.deviceId);
            if (room === undefined) {
              room = (await tx.commands.countPending(body.deviceId, { excludeTypes: TRUST_COMMANDS })) < MAX_PENDING_COMMANDS_PER_DEVICE;
              checked.set(body.deviceId, room);
            }
            if (!room) {
              if (options.skipFullQueues) {
                out.push(null);
                continue;
              }
              throw new RmError('COMMAND_QUEUE_FULL', `device ${body.deviceId} has ${MAX_PENDING_COMMANDS_PER_DEVICE} commands waiting`);
            }
          }
          const record: CommandRecord = { id: newId('cmd'), deviceId: body.deviceId, type, body: body as Record<string, unknown>, actor: body.actor ?? null, createdAt: now, status: 'queued', reason: null, updatedAt: now, attempts: 0 };
          records.push(record);
          out.push(record);
        }
        await tx.commands.insert(records);
        for (const deviceId of new Set(records.map((r) => r.deviceId))) tx.publish('command', { deviceId });
        logger.info('commands issued', { commands: records.length, types: [...new Set(records.map((r) => r.type))] });
        return out;
      }).then(async (out) => {
        // Subscribers (this node's included) have run: read back what they did (sent or still queued).
        return Promise.all(out.map(async (r) => (r ? ((await store.commands.get(r.id)) ?? r) : null)));
      });
    },
    deliver(deviceId, { reconnected }) {
      const previous = running.get(deviceId) ?? Promise.resolve();
      const next = previous.then(() => deliverNow(deviceId, reconnected)).catch((err: unknown) => {
        logger.error('command delivery failed', { deviceId, error: err });
      });
      running.set(deviceId, next);
      void next.finally(() => {
        if (running.get(deviceId) === next) running.delete(deviceId);
      });
      return next;
    },
    start() {
      return store.subscribe('command', async ({ deviceId }) => {
        if (transport.holds(deviceId)) await queue.deliver(deviceId, { reconnected: false });
      });
    },
  };
  return queue;
}
