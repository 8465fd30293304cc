// Active alerts, persisted under the service's state folder so a restart never raises the same alert twice:
// raise once, clear once. Reports go through runtime.report (the durable outbox).
import path from 'node:path';
import * as z from 'zod/mini';
import { readJsonFile, removeFile, writeJsonAtomic } from '../../system/files.js';
import { AlertSchema, type Alert } from '../../protocol/model.js';
import type { CommandOutcome, ServiceRuntime } from '../../agent/contracts.js';

const ActiveAlertSchema = z.object({ alert: AlertSchema, raisedAt: z.number(), ackedBy: z._default(z.nullable(z.string()), null), ackedAt: z._default(z.nullable(z.number()), null) });
const AlertsFileSchema = z.object({ active: z.record(z.string(), ActiveAlertSchema) });
export type ActiveAlert = z.infer<typeof ActiveAlertSchema>;

export interface AlertBook {
  load(): Promise<{ problem: string | null }>;
  isActive(key: string): boolean;
  activeKeys(): string[];
  active(): ActiveAlert[];
  raise(alert: Alert): Promise<void>;
  clear(key: string, message: string): Promise<void>;
  /** alert.ack: marks it acknowledged; an event alert (log) is cleared by the acknowledgment. */
  ack(key: string, actor: string, clearsIt: boolean): Promise<CommandOutcome>;
  clearAll(message: string): Promise<void>;
  remove(): Promise<void>;
}

export function createAlertBook(runtime: Pick<ServiceRuntime, 'report' | 'stateDir' | 'clock'>): AlertBook {
  const file = path.join(runtime.stateDir, 'alerts.json');
  let active: Record<string, ActiveAlert> = {};
  let chain: Promise<unknown> = Promise.resolve();
  // Raises, clears and acks from several check timers run one at a time so the file and reports agree.
  const serial = <T>(work: () => Promise<T>): Promise<T> => {
    const next = chain.then(work, work);
    chain = next.catch(() => undefined);
    return next;
  };
  const save = () => writeJsonAtomic(file, { active });

  // Report first, then persist: a crash in between repeats a report (the outbox is at-least-once)
  // rather than losing one.
  const clearNow = async (key: string, message: string) => {
    const entry = active[key];
    if (!entry) return;
    await runtime.report('alert.cleared', { key, service: entry.alert.service, message: message.slice(0, 2048) });
    const { [key]: _gone, ...rest } = active;
    active = rest;
    await save();
  };

  return {
    async load() {
      const read = await readJsonFile(file, AlertsFileSchema);
      if (read.status === 'ok') active = read.value.active;
      return { problem: read.status === 'invalid' ? read.reason : null };
    },
    isActive: (key) => Object.hasOwn(active, key),
    activeKeys: () => Object.keys(active),
    active: () => Object.values(active),
    raise: (alert) =>
      serial(async () => {
        if (active[alert.key]) return;
        await runtime.report('alert.raised', alert);
        active = { ...active, [alert.key]: { alert, raisedAt: runtime.clock.now(), ackedBy: null, ackedAt: null } };
        await save();
      }),
    clear: (key, message) => serial(() => clearNow(key, message)),
    ack: (key, actor, clearsIt) =>
      serial(async (): Promise<CommandOutcome> => {
        const entry = active[key];
        // Acknowledging an alert that already cleared is not an error: the console may lag behind.
        if (!entry) return { status: 'done' };
        if (clearsIt) {
          await clearNow(key, `acknowledged by ${actor}`);
          return { status: 'done' };
        }
        active = { ...active, [key]: { ...entry, ackedBy: actor, ackedAt: runtime.clock.now() } };
        await save();
        return { status: 'done' };
      }),
    clearAll: (message) =>
      serial(async () => {
        for (const key of Object.keys(active)) await clearNow(key, message);
      }),
    remove: () => serial(() => removeFile(file)),
  };
}
