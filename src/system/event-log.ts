// Warnings and errors to the Windows Event Log (Application log, source "rmagent"), through eventcreate.exe
// (in every Windows since XP; the MSI registers the source so uninstall removes it). One child process per
// entry, one at a time, at most EVENTS_PER_MINUTE: a storm of warnings must not become a storm of processes;
// what is dropped is counted in the next entry. The message is already redacted by the logger's format.
import winston from 'winston';
import type { CommandRunner } from './exec.js';

export const EVENT_SOURCE = 'rmagent';
const EVENTS_PER_MINUTE = 30;
// eventcreate takes at most 32 KB; a log entry longer than this is cut.
const MAX_MESSAGE = 8_000;

/** eventcreate's arguments for one entry, each value one argv element (no command interpreter). Pure. */
export function eventCreateArgs(level: string, message: string, dropped: number): string[] {
  const type = level === 'error' ? 'ERROR' : 'WARNING';
  const id = level === 'error' ? '2' : '1';
  const note = dropped ? ` (${dropped} earlier entries were not written to the Event Log: see the log file)` : '';
  const text = `${message}${note}`.replace(/\0/g, '').slice(0, MAX_MESSAGE);
  return ['/L', 'APPLICATION', '/SO', EVENT_SOURCE, '/T', type, '/ID', id, '/D', text];
}

export function createEventLogTransport(runner: CommandRunner, now: () => number = Date.now): winston.transport {
  let windowStart = 0;
  let inWindow = 0;
  let dropped = 0;
  let chain: Promise<unknown> = Promise.resolve();
  // winston exports the base class as `Transport` at run time (its typings name it `transport`).
  const Base = (winston as unknown as { Transport: new (options: { level: string }) => winston.transport }).Transport;
  const transport = new Base({ level: 'warn' });
  transport.log = (info: { level: string; message: unknown; [k: string]: unknown }, next: () => void) => {
    const t = now();
    if (t - windowStart >= 60_000) {
      windowStart = t;
      inWindow = 0;
    }
    if (inWindow >= EVENTS_PER_MINUTE) dropped++;
    else {
      inWindow++;
      const { level, message, ...fields } = info;
      const text = `${String(message)}${Object.keys(fields).length ? ` ${JSON.stringify(fields)}` : ''}`;
      const args = eventCreateArgs(level, text, dropped);
      dropped = 0;
      chain = chain.then(() => runner.run('eventcreate', args, { timeoutMs: 10_000 })).catch(() => undefined);
    }
    next();
  };
  return transport;
}
