// Signed webhooks for alert raised/cleared. A delivery is recorded in the same transaction as the alert change (so
// none is lost or invented), then posted by the dispatcher with retries and backoff. Each POST carries
// X-Rmagent-Signature: sha256=HMAC-SHA256(secret, "<X-Rmagent-Timestamp>.<body>") so the receiver can check origin
// and freshness.
import { createHmac } from 'node:crypto';
import type { Clock } from '../system/clock.js';
import type { Logger } from '../log.js';
import { AGENT_VERSION } from '../version.js';
import { newId } from './secrets.js';
import { alertView, iso } from './views.js';
import type { AlertRecord, DeviceRecord, Store, Transaction, WebhookDeliveryRecord, WebhookEvent } from './store/store.js';

/** Attempts before a delivery is given up (the last ones about an hour apart). */
export const MAX_WEBHOOK_ATTEMPTS = 10;
const POST_TIMEOUT_MS = 10_000;
const LEASE_MS = 60_000;
const POLL_MS = 1_000;

export function signWebhook(secret: string, timestampSec: number, body: string): string {
  return `sha256=${createHmac('sha256', secret).update(`${timestampSec}.${body}`, 'utf8').digest('hex')}`;
}

/** Delay before attempt n+1 after n failed ones: 10 s doubling, capped at one hour. Pure. */
export function webhookBackoffMs(failedAttempts: number): number {
  return Math.min(3_600_000, 10_000 * 2 ** Math.max(0, failedAttempts - 1));
}

/** Records one delivery per webhook that wants the event (inside the transaction that changed the alert). */
export async function enqueueAlertEvent(tx: Transaction, event: WebhookEvent, alert: AlertRecord, device: DeviceRecord, at: number): Promise<void> {
  const hooks = await tx.webhooks.forEvent(event);
  if (!hooks.length) return;
  const deliveries: WebhookDeliveryRecord[] = hooks.map((hook) => {
    const id = newId('dlv');
    const payload = JSON.stringify({ id, event, at, atIso: iso(at), alert: alertView(alert, device) });
    return { id, webhookId: hook.id, event, payload, status: 'pending', attempts: 0, nextAttemptAt: at, lastError: null, createdAt: at, deliveredAt: null };
  });
  await tx.webhookDeliveries.insert(deliveries);
}

export interface WebhookDispatcher {
  start(): void;
  /** Looks for due deliveries now (after an alert change) instead of at the next poll. */
  kick(): void;
  stop(): Promise<void>;
}

export function createWebhookDispatcher(ctx: { store: Store; clock: Clock; logger: Logger }): WebhookDispatcher {
  const { store, clock, logger } = ctx;
  let timer: NodeJS.Timeout | null = null;
  let running: Promise<void> | null = null;
  let again = false;
  let stopped = false;

  async function post(d: WebhookDeliveryRecord): Promise<void> {
    const hook = await store.webhooks.get(d.webhookId);
    if (!hook) return;
    const attempts = d.attempts + 1;
    let error: string | null = null;
    try {
      const ts = Math.floor(clock.now() / 1000);
      const res = await fetch(hook.url, {
        method: 'POST',
        redirect: 'manual',
        signal: AbortSignal.timeout(POST_TIMEOUT_MS),
        headers: {
          'content-type': 'application/json',
          'user-agent': `rmagent-server/${AGENT_VERSION}`,
          'x-rmagent-event': d.event,
          'x-rmagent-delivery': d.id,
          'x-rmagent-timestamp': String(ts),
          'x-rmagent-signature': signWebhook(hook.secret, ts, d.payload),
        },
        body: d.payload,
      });
      await res.body?.cancel();
      if (res.status < 200 || res.status >= 300) error = `HTTP ${res.status}`;
    } catch (err) {
      error = (err as Error).message;
    }
    const now = clock.now();
    if (!error) {
      await store.webhookDeliveries.settle(d.id, { status: 'delivered', attempts, nextAttemptAt: now, lastError: null, deliveredAt: now });
      return;
    }
    const failed = attempts >= MAX_WEBHOOK_ATTEMPTS;
    logger.warn(failed ? 'webhook delivery given up' : 'webhook delivery failed; retrying later', { webhookId: hook.id, deliveryId: d.id, attempts, error });
    await store.webhookDeliveries.settle(d.id, { status: failed ? 'failed' : 'pending', attempts, nextAttemptAt: now + webhookBackoffMs(attempts), lastError: error.slice(0, 500), deliveredAt: null });
  }

  async function round(): Promise<void> {
    do {
      again = false;
      const due = await store.webhookDeliveries.claimDue(clock.now(), 20, LEASE_MS);
      await Promise.all(due.map((d) => post(d).catch((err: unknown) => logger.error('webhook delivery crashed', { deliveryId: d.id, error: err }))));
      if (due.length === 20) again = true;
    } while (again && !stopped);
  }

  const kick = () => {
    if (stopped) return;
    if (running) {
      again = true;
      return;
    }
    running = round()
      .catch((err: unknown) => {
        logger.error('webhook round failed', { error: err });
      })
      .finally(() => {
        running = null;
      });
  };

  return {
    start() {
      timer = setInterval(kick, POLL_MS);
      timer.unref();
    },
    kick,
    async stop() {
      stopped = true;
      if (timer) clearInterval(timer);
      await running;
    },
  };
}
