// Periodic `status` reports (OS, load, memory, disks, network, hardware) into the outbox.
import type { Clock } from '../system/clock.js';
import type { Sysinfo } from '../system/sysinfo.js';
import type { ReportFn } from './contracts.js';

export interface StatusReporter {
  start(): void;
  stop(): void;
  /** Sends one status report now (e.g. on status.request); resolves once it is in the outbox. */
  sendNow(): Promise<void>;
}

export function createStatusReporter(opts: {
  sysinfo: Pick<Sysinfo, 'statusSnapshot'>;
  report: ReportFn;
  intervalMs: number;
  clock: Clock;
  onError?: (err: unknown) => void;
}): StatusReporter {
  let timer: NodeJS.Timeout | null = null;
  let inFlight: Promise<void> | null = null;

  // Overlapping ticks share one snapshot so a slow machine never piles up sampling calls.
  const sendNow = () => {
    inFlight ??= (async () => {
      try {
        const snapshot = await opts.sysinfo.statusSnapshot();
        await opts.report('status', snapshot);
      } finally {
        inFlight = null;
      }
    })();
    return inFlight;
  };

  return {
    sendNow,
    start() {
      if (timer) return;
      void sendNow().catch((err: unknown) => opts.onError?.(err));
      timer = setInterval(() => void sendNow().catch((err: unknown) => opts.onError?.(err)), opts.intervalMs);
      timer.unref();
    },
    stop() {
      if (timer) clearInterval(timer);
      timer = null;
    },
  };
}
