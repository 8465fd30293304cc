// Device routes: the fleet (filtered by tag, name, platform), one device with its latest reports, its report history
// and commands, tags, deletion (the key is revoked) and console commands.
import * as z from 'zod/mini';
import { RmError } from '../../protocol/errors.js';
import { COMMAND_BODY_SCHEMAS, isCommandType, ReportKindSchema } from '../../protocol/frames.js';
import { alertReportScope, decideCommand, needs, reportVisible } from '../access.js';
import type { NewCommand } from '../commands.js';
import { commandView, CommandViewSchema, DeviceDetailSchema, DeviceViewSchema, latestView, reportView, ReportViewSchema } from '../views.js';
import type { Store } from '../store/store.js';
import type { ApiDeps } from './deps.js';
import { deviceViews } from './device-views.js';
import { IdParam, listParam, must, NextCursor, notFound, PageQuery, pageRequest, parseInput, route, type Route } from './route.js';

/** Commands the console may send to a device (the others are sent by the server itself). patches.scan joins when the protocol has it. */
export const CONSOLE_COMMANDS: readonly string[] = ['status.request', 'inventory.request', 'patches.scan', 'patches.install', 'backup.run', 'backup.restore'].filter(isCommandType);

export const TagSchema = z.string().check(z.minLength(1), z.maxLength(64), z.regex(/^[A-Za-z0-9._:/-]+$/, 'letters, digits and . _ : / - only'));
export const MAX_TAGS_PER_DEVICE = 32;
const Tags = z.array(TagSchema).check(z.maxLength(MAX_TAGS_PER_DEVICE));
const DeviceIds = z.array(z.string().check(z.minLength(1), z.maxLength(128))).check(z.minLength(1), z.maxLength(10_000));

const DeviceListQuery = z.object({
  tag: listParam(TagSchema).check(z.describe('only devices carrying this tag (repeat for several: all must match)')),
  search: z.optional(z.string().check(z.minLength(1), z.maxLength(128))).check(z.describe('case-insensitive part of the alias or hostname')),
  platform: z.optional(z.string().check(z.maxLength(32))),
  ...PageQuery,
});
const ReportsQuery = z.object({
  kind: z.optional(ReportKindSchema),
  after: z._default(z.coerce.number().check(z.int(), z.gte(0)), 0).check(z.describe('only reports with seq > after')),
  limit: z._default(z.coerce.number().check(z.int(), z.gte(1), z.lte(500)), 100),
});
const CommandBody = z.strictObject({
  type: z.enum(CONSOLE_COMMANDS as [string, ...string[]]),
  body: z._default(z.record(z.string(), z.unknown()), {}).check(z.describe("the command's own fields; deviceId and actor are set by the server")),
});

async function liveDevice(store: Store, id: string) {
  const device = await store.devices.get(id);
  if (!device) throw notFound(`device ${id}`);
  return device;
}

export function deviceRoutes({ store, commands, fleet, clock, logger }: ApiDeps): Route[] {
  const viewOf = async (id: string) => (await deviceViews(store, fleet, [await liveDevice(store, id)]))[0]!;
  return [
    route({
      method: 'GET', path: '/devices', tag: 'devices', summary: 'List devices', access: needs('view_devices'),
      query: DeviceListQuery,
      response: z.object({ devices: z.array(DeviceViewSchema), next: NextCursor }),
      async handle({ query }) {
        const page = await store.devices.list({ ...(query.tag ? { tags: query.tag } : {}), ...(query.search ? { search: query.search } : {}), ...(query.platform ? { platform: query.platform } : {}) }, pageRequest(query));
        return { body: { devices: await deviceViews(store, fleet, page.items), next: page.next } };
      },
    }),
    route({
      method: 'GET', path: '/devices/:id', tag: 'devices', summary: 'One device, with the latest report of each kind', access: needs('view_devices'),
      params: IdParam, response: DeviceDetailSchema, errors: ['API_NOT_FOUND'],
      async handle({ account, perms, params }) {
        const view = await viewOf(params.id);
        const scope = alertReportScope(account.id, perms, await store.activations.forDevices([params.id]));
        const latest = (await store.deviceState.latest(params.id)).filter((l) => reportVisible(scope, l.kind, l.data));
        return { body: { ...view, latest: Object.fromEntries(latest.map((l) => [l.kind, latestView(l)])), reportUsage: await store.reports.usage(params.id) } };
      },
    }),
    route({
      method: 'PATCH', path: '/devices/:id', tag: 'devices', summary: "Replace a device's tags", access: needs('manage_devices'),
      params: IdParam, body: z.strictObject({ tags: Tags }), response: DeviceViewSchema, errors: ['API_NOT_FOUND'],
      async handle({ params, body }) {
        await liveDevice(store, params.id);
        await store.devices.setTags(params.id, body.tags);
        return { body: await viewOf(params.id) };
      },
    }),
    route({
      method: 'POST', path: '/devices/tags', tag: 'devices', summary: 'Add and remove tags on many devices', access: needs('manage_devices'),
      body: z.strictObject({ deviceIds: DeviceIds, add: z._default(Tags, []), remove: z._default(Tags, []) }),
      response: z.object({ devices: z.int() }), errors: ['API_NOT_FOUND'],
      async handle({ body }) {
        const devices = await store.devices.many(body.deviceIds);
        const missing = body.deviceIds.find((id) => !devices.some((d) => d.id === id));
        if (missing) throw notFound(`device ${missing}`);
        await store.transaction(async (tx) => {
          for (const d of devices) {
            const tags = [...new Set([...d.tags.filter((t) => !body.remove.includes(t)), ...body.add])].sort();
            if (tags.length > MAX_TAGS_PER_DEVICE) throw new RmError('API_INVALID', `device ${d.id} would carry more than ${MAX_TAGS_PER_DEVICE} tags`);
            await tx.devices.setTags(d.id, tags);
          }
        });
        return { body: { devices: devices.length } };
      },
    }),
    route({
      method: 'DELETE', path: '/devices/:id', tag: 'devices', summary: 'Delete a device: its key is revoked and its data removed',
      description: 'The device is refused from then on with the error DEVICE_REVOKED (its connection, if any, is closed at once); its reports, alerts and activations are removed and its pending commands cancelled. Enroll it again with a new token to manage it again.',
      access: needs('manage_devices'), params: IdParam, response: z.object({ id: z.string(), revokedAt: z.number(), revokedAtIso: z.string() }), errors: ['API_NOT_FOUND'],
      async handle({ account, params }) {
        await liveDevice(store, params.id);
        const at = clock.now();
        await store.transaction(async (tx) => {
          await tx.devices.revoke(params.id, at, account.id);
          tx.publish('device.revoked', { deviceId: params.id });
        });
        logger.info('device deleted', { deviceId: params.id, actor: account.id });
        return { body: { id: params.id, revokedAt: at, revokedAtIso: new Date(at).toISOString() } };
      },
    }),
    route({
      method: 'GET', path: '/devices/:id/reports', tag: 'devices', summary: "A device's stored reports, oldest first",
      description: 'Alert reports follow the alert scope: all with view_all_alerts, those of services the account activated on the device with view_own_alerts, none otherwise. Continue with ?after=nextAfter.',
      access: needs('view_devices'), params: IdParam, query: ReportsQuery,
      response: z.object({ reports: z.array(ReportViewSchema), lastSeq: z.int(), nextAfter: z.nullable(z.int()).check(z.describe('pass as ?after= for the next page; null when there is no more')) }),
      errors: ['API_NOT_FOUND'],
      async handle({ account, perms, params, query }) {
        const device = await liveDevice(store, params.id);
        const scope = alertReportScope(account.id, perms, await store.activations.forDevices([device.id]));
        const rows = await store.reports.list(device.id, { kinds: query.kind ? [query.kind] : null, after: query.after, limit: query.limit });
        const reports = rows.filter((r) => reportVisible(scope, r.kind, r.data)).map(reportView);
        return { body: { reports, lastSeq: device.lastSeq, nextAfter: rows.length === query.limit ? rows.at(-1)!.seq : null } };
      },
    }),
    route({
      method: 'GET', path: '/devices/:id/commands', tag: 'devices', summary: "A device's commands, newest first", access: needs('view_devices'),
      params: IdParam, query: z.object(PageQuery), response: z.object({ commands: z.array(CommandViewSchema), next: NextCursor }), errors: ['API_NOT_FOUND'],
      async handle({ params, query }) {
        await liveDevice(store, params.id);
        const page = await store.commands.listForDevice(params.id, pageRequest(query));
        return { body: { commands: page.items.map(commandView), next: page.next } };
      },
    }),
    route({
      method: 'POST', path: '/devices/:id/commands', tag: 'devices', summary: 'Send a command to a device (queued while it is offline)',
      description: `Types: ${CONSOLE_COMMANDS.join(', ')}. backup.* need the Backup owner (the account that activated Backup on the device). The answer's status is sent when the device's connection took it, queued otherwise; it is delivered when the device next connects.`,
      access: needs('assign_policies'), params: IdParam, body: CommandBody, status: 202, response: CommandViewSchema, errors: ['API_NOT_FOUND', 'COMMAND_QUEUE_FULL'],
      async handle({ account, perms, params, body }) {
        const device = await liveDevice(store, params.id);
        must(decideCommand(body.type, account.id, perms, (await store.activations.get(device.id, 'backup'))?.activatedBy));
        if (!isCommandType(body.type)) throw notFound(`command type ${body.type}`);
        const commandBody = parseInput(COMMAND_BODY_SCHEMAS[body.type], { ...body.body, deviceId: device.id, actor: account.id }, 'body');
        const [record] = await commands.issue([{ type: body.type, body: commandBody } as NewCommand]);
        return { status: 202, body: commandView(record!) };
      },
    }),
    route({
      method: 'GET', path: '/tags', tag: 'devices', summary: 'Every device tag in use and how many devices carry it', access: needs('view_devices'),
      response: z.object({ tags: z.array(z.object({ tag: z.string(), devices: z.int() })) }),
      handle: async () => ({ body: { tags: await store.devices.tags() } }),
    }),
  ];
}
