// Retention: what the server keeps over time is bounded by age as well as by size. A periodic sweep removes old
// reports, cleared alerts, settled webhook deliveries, final commands, expired console sessions and e-mailed links,
// and expires commands that waited too long for their device (never trust commands: a device back after months must
// still learn of key rotations).
import type { Clock } from '../system/clock.js';
import type { Logger } from '../log.js';
import { TRUST_COMMANDS } from './commands.js';
import type { Store } from './store/store.js';

export interface RetentionOptions {
  reportDays: number;
  clearedAlertDays: number;
  /** Final commands kept per device (the newest), and at most this old. */
  commandsPerDevice: number;
  commandDays: number;
  /** Queued (never sent) commands expire after this long. */
  queuedCommandDays: number;
  deliveryDays: number;
}

export const DEFAULT_RETENTION: RetentionOptions = { reportDays: 30, clearedAlertDays: 90, commandsPerDevice: 200, commandDays: 90, queuedCommandDays: 30, deliveryDays: 30 };

const DAY_MS = 86_400_000;
/** Chunks one sweep removes per kind at most (each chunk is one short transaction). */
const MAX_CHUNKS = 1_000;

export interface RetentionSweeper {
  start(): void;
  sweep(): Promise<Record<string, number>>;
  stop(): Promise<void>;
}

export function createRetentionSweeper(ctx: { store: Store; clock: Clock; logger: Logger; options: RetentionOptions; intervalMs?: number }): RetentionSweeper {
  const { store, clock, logger, options } = ctx;
  let timer: NodeJS.Timeout | null = null;
  let running: Promise<unknown> | null = null;

  // Each call removes one chunk; between chunks the event loop serves agents and the API.
  const repeat = async (removeChunk: () => Promise<number>): Promise<number> => {
    let total = 0;
    for (let i = 0; i < MAX_CHUNKS; i++) {
      const n = await removeChunk();
      total += n;
      if (n === 0) break;
      await new Promise<void>((resolve) => setImmediate(resolve));
    }
    return total;
  };

  async function sweep(): Promise<Record<string, number>> {
    const now = clock.now();
    const counts = {
      reports: await repeat(() => store.reports.pruneBefore(now - options.reportDays * DAY_MS)),
      alerts: await repeat(() => store.alerts.pruneClearedBefore(now - options.clearedAlertDays * DAY_MS)),
      expiredCommands: await store.commands.expireQueued(now - options.queuedCommandDays * DAY_MS, now, { excludeTypes: TRUST_COMMANDS }),
      commands: await repeat(() => store.commands.pruneFinal(options.commandsPerDevice, now - options.commandDays * DAY_MS)),
      deliveries: await repeat(() => store.webhookDeliveries.pruneBefore(now - options.deliveryDays * DAY_MS)),
      // Console sign-in: expired sessions and e-mailed links are of no use to anyone.
      sessions: await store.sessions.pruneExpired(now),
      verifications: await store.verifications.pruneExpired(now),
    };
    if (Object.values(counts).some((n) => n > 0)) logger.info('retention sweep', counts);
    return counts;
  }

  const run = () => {
    running ??= sweep()
      .catch((err: unknown) => logger.error('retention sweep failed', { error: err }))
      .finally(() => {
        running = null;
      });
    return running;
  };

  return {
    start() {
      timer = setInterval(run, ctx.intervalMs ?? 3_600_000);
      timer.unref();
      void run();
    },
    sweep,
    async stop() {
      if (timer) clearInterval(timer);
      await running;
    },
  };
}
