// Webhook routes: URLs that receive alert raised/cleared events, signed with a per-webhook secret (HMAC-SHA256).
import * as z from 'zod/mini';
import { needs } from '../access.js';
import { newId, newSecret } from '../secrets.js';
import { deliveryView, WebhookDeliveryViewSchema, webhookView, WebhookViewSchema } from '../views.js';
import { WEBHOOK_EVENTS, type WebhookRecord } from '../store/records.js';
import type { ApiDeps } from './deps.js';
import { IdParam, NextCursor, notFound, PageQuery, pageRequest, route, type Route } from './route.js';

const WebhookBody = z.strictObject({
  url: z.string().check(z.maxLength(2048), z.regex(/^https?:\/\/[^\s]+$/, 'an http:// or https:// URL')),
  events: z._default(z.array(z.enum(WEBHOOK_EVENTS)).check(z.minLength(1)), [...WEBHOOK_EVENTS]),
  secret: z.optional(z.string().check(z.minLength(16), z.maxLength(256))).check(z.describe('HMAC key (made for you when absent); shown once')),
});

export function webhookRoutes({ store, clock }: ApiDeps): Route[] {
  const webhookOrThrow = async (id: string) => {
    const webhook = await store.webhooks.get(id);
    if (!webhook) throw notFound(`webhook ${id}`);
    return webhook;
  };
  return [
    route({
      method: 'GET', path: '/webhooks', tag: 'webhooks', summary: 'List webhooks (never their secret)', access: needs('manage_accounts'),
      response: z.object({ webhooks: z.array(WebhookViewSchema) }),
      handle: async () => ({ body: { webhooks: (await store.webhooks.list()).map(webhookView) } }),
    }),
    route({
      method: 'POST', path: '/webhooks', tag: 'webhooks', summary: 'Add a webhook for alert events',
      description: 'Each event is POSTed as JSON with the headers X-Rmagent-Event, X-Rmagent-Delivery, X-Rmagent-Timestamp (epoch seconds) and X-Rmagent-Signature: sha256=HEX, the HMAC-SHA256 of "TIMESTAMP.BODY" with the secret. Failed deliveries are retried with backoff (docs/server-api.md).',
      access: needs('manage_accounts'), body: WebhookBody, status: 201,
      response: z.object({ ...WebhookViewSchema.shape, secret: z.string() }),
      async handle({ account, body }) {
        const webhook: WebhookRecord = { id: newId('hook'), url: body.url, secret: body.secret ?? newSecret('whs'), events: [...new Set(body.events)], createdBy: account.id, createdAt: clock.now() };
        await store.webhooks.insert(webhook);
        return { status: 201, body: { ...webhookView(webhook), secret: webhook.secret } };
      },
    }),
    route({
      method: 'DELETE', path: '/webhooks/:id', tag: 'webhooks', summary: 'Remove a webhook (pending deliveries are dropped)', access: needs('manage_accounts'),
      params: IdParam, response: z.object({ id: z.string(), deleted: z.literal(true) }), errors: ['API_NOT_FOUND'],
      async handle({ params }) {
        await webhookOrThrow(params.id);
        await store.webhooks.delete(params.id);
        return { body: { id: params.id, deleted: true as const } };
      },
    }),
    route({
      method: 'GET', path: '/webhooks/:id/deliveries', tag: 'webhooks', summary: "A webhook's deliveries, newest first", access: needs('manage_accounts'),
      params: IdParam, query: z.object(PageQuery), response: z.object({ deliveries: z.array(WebhookDeliveryViewSchema), next: NextCursor }), errors: ['API_NOT_FOUND'],
      async handle({ params, query }) {
        await webhookOrThrow(params.id);
        const page = await store.webhookDeliveries.list(params.id, pageRequest(query));
        return { body: { deliveries: page.items.map(deliveryView), next: page.next } };
      },
    }),
  ];
}
