// Alert routes, scoped by permission: all alerts with view_all_alerts, those of the services an account activated
// on the alert's device with view_own_alerts. Each alert carries its device's alias and hostname.
import * as z from 'zod/mini';
import { alertScope, decideAlertAccess, needs, type Permission } from '../access.js';
import { alertView, AlertViewSchema, commandView, CommandViewSchema } from '../views.js';
import type { AlertRecord, Store } from '../store/store.js';
import type { ApiDeps } from './deps.js';
import { IdParam, must, NextCursor, notFound, PageQuery, pageRequest, route, type Route } from './route.js';

const AlertsQuery = z.object({
  open: z.optional(z.enum(['true', 'false'])).check(z.describe('true: only open alerts; false: only cleared ones')),
  deviceId: z.optional(z.string().check(z.maxLength(128))),
  ...PageQuery,
});

async function views(store: Store, alerts: readonly AlertRecord[]) {
  const devices = new Map((await store.devices.many([...new Set(alerts.map((a) => a.deviceId))])).map((d) => [d.id, d]));
  return alerts.map((a) => alertView(a, devices.get(a.deviceId) ?? null));
}

export function alertRoutes({ store, commands, clock }: ApiDeps): Route[] {
  const visibleAlert = async (accountId: string, perms: ReadonlySet<Permission>, id: string) => {
    const alert = await store.alerts.get(id);
    if (!alert) throw notFound(`alert ${id}`);
    must(decideAlertAccess(accountId, perms, (await store.activations.get(alert.deviceId, alert.service))?.activatedBy));
    return alert;
  };
  return [
    route({
      method: 'GET', path: '/alerts', tag: 'alerts', summary: 'Alerts in the account\'s scope, newest first', access: needs('view_own_alerts', 'view_all_alerts'),
      query: AlertsQuery,
      response: z.object({ scope: z.enum(['all', 'own']), alerts: z.array(AlertViewSchema), next: NextCursor }),
      async handle({ account, perms, query }) {
        const scope = alertScope(perms) === 'all' ? ('all' as const) : ('own' as const);
        const page = await store.alerts.list(
          { ...(query.open ? { open: query.open === 'true' } : {}), ...(query.deviceId ? { deviceId: query.deviceId } : {}), ...(scope === 'own' ? { ownedBy: account.id } : {}) },
          pageRequest(query),
        );
        return { body: { scope, alerts: await views(store, page.items), next: page.next } };
      },
    }),
    route({
      method: 'GET', path: '/alerts/:id', tag: 'alerts', summary: 'One alert', access: needs('view_own_alerts', 'view_all_alerts'),
      params: IdParam, response: AlertViewSchema, errors: ['API_NOT_FOUND'],
      async handle({ account, perms, params }) {
        return { body: (await views(store, [await visibleAlert(account.id, perms, params.id)]))[0]! };
      },
    }),
    route({
      method: 'POST', path: '/alerts/:id/ack', tag: 'alerts', summary: 'Acknowledge an alert; the device gets a signed alert.ack',
      access: needs('view_own_alerts', 'view_all_alerts'), params: IdParam,
      response: z.object({ alert: AlertViewSchema, command: z.nullable(CommandViewSchema), commandId: z.nullable(z.string()), commandStatus: z.nullable(z.string()) }),
      errors: ['API_NOT_FOUND'],
      async handle({ account, perms, params }) {
        const alert = await visibleAlert(account.id, perms, params.id);
        const at = clock.now();
        await store.alerts.update(alert.id, { ackedBy: account.id, ackedAt: at });
        // Queued for an offline device; skipped (the ack is still recorded) when the device's queue is full.
        const [command] = await commands.issue([{ type: 'alert.ack', body: { deviceId: alert.deviceId, actor: account.id, key: alert.key } }], { skipFullQueues: true });
        const [view] = await views(store, [{ ...alert, ackedBy: account.id, ackedAt: at }]);
        return { body: { alert: view!, command: command ? commandView(command) : null, commandId: command?.id ?? null, commandStatus: command?.status ?? null } };
      },
    }),
  ];
}
