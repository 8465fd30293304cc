// Device routes: the fleet, per-device commands and reports, and alerts (scoped by permission).
import * as z from 'zod/mini';
import { COMMAND_BODY_SCHEMAS, ReportKindSchema, type BodyOf } from '../protocol/frames.js';
import { alertScope, decideAlertAccess, decideCommand } from './access.js';
import { deviceView } from './desired.js';
import { must, notFound, parseBody, type Route } from './http.js';
import { activationOf } from './reports.js';
import type { ApiDeps } from './routes.js';
import type { StoreData } from './store.js';

export const CONSOLE_COMMANDS = ['status.request', 'inventory.request', 'backup.run', 'backup.restore'] as const;
const CommandBody = z.strictObject({ type: z.enum(CONSOLE_COMMANDS), body: z._default(z.record(z.string(), z.unknown()), {}) });
const ReportsQuery = z.object({ kind: z.optional(ReportKindSchema), after: z._default(z.coerce.number().check(z.int(), z.gte(0)), 0), limit: z._default(z.coerce.number().check(z.int(), z.gte(1), z.lte(500)), 100) });

function deviceOrThrow(data: StoreData, id: string) {
  const device = data.devices.find((d) => d.id === id);
  if (!device) throw notFound(`device ${id}`);
  return device;
}

export function deviceRoutes({ store, commands, fleet, clock }: ApiDeps): Route[] {
  const alertOwner = (alert: StoreData['alerts'][number]) => activationOf(store.data, alert.deviceId, alert.service)?.activatedBy;
  return [
    { method: 'GET', path: '/devices', handle: () => ({ body: { devices: store.data.devices.map((d) => deviceView(store.data, d, fleet.isOnline(d.id))) } }) },
    {
      method: 'GET',
      path: '/devices/:id',
      handle({ params }) {
        const device = deviceOrThrow(store.data, params.id!);
        return { body: { ...deviceView(store.data, device, fleet.isOnline(device.id)), latest: device.latest } };
      },
    },
    {
      method: 'POST',
      path: '/devices/:id/commands',
      async handle({ account, perms, params, body }) {
        const device = deviceOrThrow(store.data, params.id!);
        const input = parseBody(CommandBody, body);
        must(decideCommand(input.type, account.id, perms, activationOf(store.data, device.id, 'backup')?.activatedBy));
        const commandBody = parseBody(COMMAND_BODY_SCHEMAS[input.type], { ...input.body, deviceId: device.id, actor: account.id }) as BodyOf<typeof input.type>;
        const record = await commands.issue(input.type, commandBody);
        return { status: 202, body: record };
      },
    },
    {
      method: 'GET',
      path: '/devices/:id/commands',
      handle({ params }) {
        const device = deviceOrThrow(store.data, params.id!);
        return { body: { commands: store.data.commands.filter((c) => c.deviceId === device.id) } };
      },
    },
    {
      method: 'GET',
      path: '/devices/:id/reports',
      handle({ params, query }) {
        const device = deviceOrThrow(store.data, params.id!);
        const q = parseBody(ReportsQuery, Object.fromEntries(query));
        const reports = (store.data.reports[device.id] ?? []).filter((r) => r.seq > q.after && (!q.kind || r.kind === q.kind)).slice(0, q.limit);
        return { body: { reports, lastSeq: device.lastSeq } };
      },
    },
    {
      method: 'GET',
      path: '/alerts',
      handle({ account, perms, query }) {
        if (alertScope(perms) === 'none') must(decideAlertAccess(account.id, perms, undefined));
        const open = query.get('open');
        const alerts = store.data.alerts.filter(
          (a) => decideAlertAccess(account.id, perms, alertOwner(a)).ok && (open === null || (open === 'true') === (a.clearedAt === null)),
        );
        return { body: { scope: alertScope(perms), alerts } };
      },
    },
    {
      method: 'POST',
      path: '/alerts/:id/ack',
      async handle({ account, perms, params }) {
        const alert = store.data.alerts.find((a) => a.id === params.id);
        if (!alert) throw notFound(`alert ${params.id}`);
        must(decideAlertAccess(account.id, perms, alertOwner(alert)));
        Object.assign(alert, { ackedBy: account.id, ackedAt: clock.now() });
        const command = await commands.issue('alert.ack', { deviceId: alert.deviceId, actor: account.id, key: alert.key });
        return { body: { alert, commandId: command.id, commandStatus: command.status } };
      },
    },
  ];
}
