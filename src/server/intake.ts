// Reports and command acks from every connected device, written with group commit: what the sessions hand in
// during one turn of the event loop is applied in one transaction (one fsync for many devices), then each session
// acknowledges its reports — only once they are committed.
//
// Invariants: a device's lastSeq moves only with the reports stored in the same transaction; a job that fails takes
// only itself down (the batch is retried job by job); the newest report of a kind is never trimmed.
import type { BodyOf, ReportBody } from '../protocol/frames.js';
import type { Clock } from '../system/clock.js';
import type { Logger } from '../log.js';
import { recordAck } from './commands.js';
import { decideReport, MAX_OPEN_ALERTS_PER_DEVICE, type ReportEffect } from './reports.js';
import { newId } from './secrets.js';
import { enqueueAlertEvent } from './webhooks.js';
import type { DeviceRecord, ReportLimits, Store, Transaction } from './store/store.js';

export interface IntakeJob {
  deviceId: string;
  reports: ReportBody[];
  acks: Array<BodyOf<'ack'>>;
}

export type IntakeResult = { revoked: true } | { revoked: false; lastSeq: number; stored: number; duplicates: number };

export interface Intake {
  submit(job: IntakeJob): Promise<IntakeResult>;
  /** Waits for everything submitted so far. */
  drain(): Promise<void>;
}

/** Jobs per transaction: bounds how long one commit holds the event loop. */
const MAX_JOBS_PER_TRANSACTION = 500;

interface Queued {
  job: IntakeJob;
  resolve(result: IntakeResult): void;
  reject(err: unknown): void;
}

export function createIntake(ctx: { store: Store; clock: Clock; logger: Logger; limits: ReportLimits; onAlertChange?: () => void }): Intake {
  const { store, clock, logger, limits } = ctx;
  const queue: Queued[] = [];
  let running: Promise<void> | null = null;

  async function applyEffect(tx: Transaction, device: DeviceRecord, effect: ReportEffect, at: number, now: number): Promise<boolean> {
    if (!effect) return false;
    switch (effect.kind) {
      case 'service':
        await tx.deviceState.putService(device.id, effect.state);
        return false;
      case 'teamviewer':
        device.facts = { ...device.facts, teamviewer: effect.facts };
        await tx.devices.updateFacts(device.id, device.facts);
        return false;
      case 'alert.raised': {
        const a = effect.alert;
        const fields = { service: a.service, check: a.check, severity: a.severity, message: a.message, value: a.value ?? null, threshold: a.threshold ?? null };
        const open = await tx.alerts.openByKey(device.id, a.key);
        if (open) {
          await tx.alerts.update(open.id, fields);
          return false;
        }
        if ((await tx.alerts.countOpen(device.id)) >= MAX_OPEN_ALERTS_PER_DEVICE) {
          logger.warn('alert not opened: the device holds too many open alerts', { deviceId: device.id, key: a.key, max: MAX_OPEN_ALERTS_PER_DEVICE });
          return false;
        }
        const alert = { id: newId('alert'), deviceId: device.id, key: a.key, ...fields, raisedAt: at, clearedAt: null, ackedBy: null, ackedAt: null };
        await tx.alerts.insert(alert);
        await enqueueAlertEvent(tx, 'alert.raised', alert, device, now);
        return true;
      }
      case 'alert.cleared': {
        const open = await tx.alerts.openByKey(device.id, effect.key);
        if (!open) return false;
        const cleared = { ...open, clearedAt: at || now };
        await tx.alerts.update(open.id, { clearedAt: cleared.clearedAt });
        await enqueueAlertEvent(tx, 'alert.cleared', cleared, device, now);
        return true;
      }
    }
  }

  async function apply(tx: Transaction, job: IntakeJob, now: number): Promise<{ result: IntakeResult; alertChanged: boolean }> {
    const device = await tx.devices.get(job.deviceId, { forUpdate: true });
    if (!device) return { result: { revoked: true }, alertChanged: false };
    let lastSeq = device.lastSeq;
    let stored = 0;
    let duplicates = 0;
    let alertChanged = false;
    for (const report of job.reports) {
      const decision = decideReport(lastSeq, report);
      if (!decision.stored) {
        duplicates += 1;
        continue;
      }
      lastSeq = report.seq;
      stored += 1;
      const dataJson = JSON.stringify(report.data);
      await tx.reports.append({ deviceId: device.id, seq: report.seq, kind: report.kind, at: report.at, receivedAt: now, bytes: Buffer.byteLength(dataJson, 'utf8'), data: report.data, invalid: decision.invalid }, limits, dataJson);
      if (decision.invalid) {
        logger.warn('report data does not match its kind', { deviceId: device.id, seq: report.seq, reason: decision.invalid });
        continue;
      }
      await tx.deviceState.putLatest(device.id, { kind: report.kind, seq: report.seq, at: report.at, receivedAt: now, data: report.data }, dataJson);
      if (await applyEffect(tx, device, decision.effect, report.at, now)) alertChanged = true;
    }
    if (job.reports.length) await tx.devices.advance(device.id, lastSeq, now);
    for (const ack of job.acks) {
      if (!(await recordAck(tx, device.id, ack, now))) logger.debug('ack for an untracked command or an old status', { deviceId: device.id, commandId: ack.commandId, status: ack.status });
    }
    return { result: { revoked: false, lastSeq, stored, duplicates }, alertChanged };
  }

  async function flush(batch: Queued[]): Promise<void> {
    const now = clock.now();
    try {
      const outcomes = await store.transaction(async (tx) => {
        const out = [];
        for (const q of batch) out.push(await apply(tx, q.job, now));
        return out;
      });
      batch.forEach((q, i) => q.resolve(outcomes[i]!.result));
      if (outcomes.some((o) => o.alertChanged)) ctx.onAlertChange?.();
    } catch (err) {
      if (batch.length === 1) return batch[0]!.reject(err);
      logger.warn('intake batch failed; applying its jobs one by one', { jobs: batch.length, error: err });
      for (const q of batch) {
        try {
          const outcome = await store.transaction((tx) => apply(tx, q.job, clock.now()));
          q.resolve(outcome.result);
          if (outcome.alertChanged) ctx.onAlertChange?.();
        } catch (jobErr) {
          q.reject(jobErr);
        }
      }
    }
  }

  function schedule(): void {
    if (running) return;
    running = new Promise<void>((resolve) => setImmediate(resolve))
      .then(async () => {
        while (queue.length) await flush(queue.splice(0, MAX_JOBS_PER_TRANSACTION));
      })
      .finally(() => {
        running = null;
        if (queue.length) schedule();
      });
  }

  return {
    submit(job) {
      return new Promise<IntakeResult>((resolve, reject) => {
        queue.push({ job, resolve, reject });
        schedule();
      });
    },
    async drain() {
      while (running) await running;
    },
  };
}
