// Service routes (the seed's steps 3-5): the services, activating one with a policy on chosen devices or on every
// device carrying a tag, deactivating it, and the per-service overview.
import * as z from 'zod/mini';
import { RmError } from '../../protocol/errors.js';
import { SERVICE_NAMES, ServiceNameSchema, type ServiceName } from '../../protocol/model.js';
import { decideBackupAccess, decideSeats, needs } from '../access.js';
import { deviceServices, policyOnWire, revisionsOf } from '../desired.js';
import { isoOrNull, ServiceViewSchema } from '../views.js';
import type { DeviceRecord } from '../store/store.js';
import type { ApiDeps } from './deps.js';
import { TagSchema } from './devices.js';
import { refuseUnsupported, UNSUPPORTED_SERVICES } from './policies.js';
import { must, NextCursor, notFound, PageQuery, pageRequest, route, type Route } from './route.js';

/** Devices one activation or deactivation may name (ids and tags together). */
export const MAX_DEVICES_PER_CHANGE = 20_000;

const ServiceParam = z.strictObject({ service: z.string().check(z.maxLength(64)) });
const Selection = {
  deviceIds: z._default(z.array(z.string().check(z.minLength(1), z.maxLength(128))).check(z.maxLength(MAX_DEVICES_PER_CHANGE)), []),
  tags: z._default(z.array(TagSchema).check(z.maxLength(16)), []).check(z.describe('every device carrying any of these tags')),
};
const ActivateBody = z.strictObject({ ...Selection, policyId: z.string().check(z.minLength(1), z.maxLength(128)) });
const DeactivateBody = z.strictObject(Selection);
const DeviceResults = z.array(z.object({ deviceId: z.string(), online: z.boolean(), commandId: z.nullable(z.string()) }));

function serviceParam(value: string): ServiceName {
  const parsed = ServiceNameSchema.safeParse(value);
  if (!parsed.success) throw notFound(`service ${value}`);
  return parsed.data;
}

export function serviceRoutes({ store, clock, commands, fleet, logger }: ApiDeps): Route[] {
  /** The devices named by id (each must exist) and those carrying any of the tags, without duplicates. */
  async function selected(selection: { deviceIds: string[]; tags: string[] }): Promise<DeviceRecord[]> {
    if (!selection.deviceIds.length && !selection.tags.length) throw new RmError('API_INVALID', 'deviceIds, tags: name at least one device or tag');
    const byId = await store.devices.many(selection.deviceIds);
    const missing = selection.deviceIds.find((id) => !byId.some((d) => d.id === id));
    if (missing) throw notFound(`device ${missing}`);
    const ids = new Set(byId.map((d) => d.id));
    for (const tag of selection.tags) for (const id of await store.devices.ids({ tags: [tag] }, MAX_DEVICES_PER_CHANGE)) ids.add(id);
    if (ids.size > MAX_DEVICES_PER_CHANGE) throw new RmError('API_INVALID', `more than ${MAX_DEVICES_PER_CHANGE} devices selected; split the change by tag`);
    const extra = [...ids].filter((id) => !byId.some((d) => d.id === id));
    return [...byId, ...(await store.devices.many(extra))];
  }
  const results = (devices: readonly DeviceRecord[], issued: ReadonlyMap<string, string>) =>
    devices.map((d) => ({ deviceId: d.id, online: fleet.isOnline(d.id), commandId: issued.get(d.id) ?? null }));

  return [
    route({
      method: 'GET', path: '/services', tag: 'services', summary: 'The services and whether agents run them', access: needs('view_devices', 'assign_policies', 'manage_policies'),
      response: z.object({
        services: z.array(z.object({
          name: ServiceNameSchema,
          supported: z.boolean(),
          seats: z.nullable(z.object({ total: z.int(), used: z.int(), free: z.int() })).check(z.describe('seats of the product\'s activated licences; null while the server has no licence (not counted)')),
        })),
      }),
      async handle() {
        const licensed = (await store.licences.count()) > 0;
        const services = [];
        for (const name of SERVICE_NAMES) {
          const seats = licensed ? await store.licences.seats(name) : null;
          services.push({ name, supported: !UNSUPPORTED_SERVICES.includes(name), seats: seats && { ...seats, free: Math.max(0, seats.total - seats.used) } });
        }
        return { body: { services } };
      },
    }),
    route({
      method: 'POST', path: '/services/:service/activate', tag: 'services', summary: 'Activate a service with a policy on devices (by id and/or tag)',
      description: 'Online devices get a signed service.install now; offline ones get the service in their signed desired state when they connect. The activating account becomes the service\'s owner on those devices (own alerts; Backup ownership). Endpoint Protection is refused with SERVICE_NOT_SUPPORTED. Once the server has licences, every device newly given the service takes a seat of the product\'s activated licences; beyond them the whole activation is refused (409 LICENCE_SEATS_EXCEEDED, with seats {total, used, needed}).',
      access: needs('assign_policies'), params: ServiceParam, body: ActivateBody,
      response: z.object({ service: ServiceNameSchema, policy: z.object({ id: z.string(), version: z.int() }), devices: DeviceResults }),
      errors: ['API_NOT_FOUND', 'SERVICE_NOT_SUPPORTED', 'LICENCE_SEATS_EXCEEDED'],
      async handle({ account, params, body }) {
        const service = serviceParam(params.service);
        refuseUnsupported(service);
        const policy = await store.policies.get(body.policyId);
        if (!policy) throw notFound(`policy ${body.policyId}`);
        if (policy.service !== service) throw new RmError('API_INVALID', `policyId: policy ${policy.id} is a ${policy.service} policy, not ${service}`);
        const devices = await selected(body);
        const at = clock.now();
        const revisions = await store.transaction(async (tx) => {
          const current = (await tx.activations.forDevices(devices.map((d) => d.id))).filter((a) => a.service === service);
          if (service === 'backup') for (const a of current) must(decideBackupAccess(account.id, a.activatedBy));
          // Seats: once the server has licences, each device newly given the service takes one of the product's seats.
          if ((await tx.licences.count()) > 0) must(decideSeats(service, await tx.licences.seats(service), devices.length - current.length));
          for (const d of devices) await tx.activations.upsert({ deviceId: d.id, service, policyId: policy.id, activatedBy: account.id, at });
          await tx.devices.bumpRevision(devices.map((d) => d.id));
          return revisionsOf(tx, devices.map((d) => d.id));
        });
        const online = devices.filter((d) => fleet.isOnline(d.id));
        // The command carries the revision it brings the device to: the agent refuses it once a newer state is in force.
        const issued = await commands.issue(online.map((d) => ({ type: 'service.install' as const, body: { deviceId: d.id, actor: account.id, service, policy: policyOnWire(policy), ...revisions.get(d.id) } })), { skipFullQueues: true });
        logger.info('service activated', { service, policyId: policy.id, devices: devices.length, actor: account.id });
        return { body: { service, policy: { id: policy.id, version: policy.version }, devices: results(devices, new Map(issued.flatMap((c) => (c ? [[c.deviceId, c.id] as const] : [])))) } };
      },
    }),
    route({
      method: 'POST', path: '/services/:service/deactivate', tag: 'services', summary: 'Deactivate a service on devices (by id and/or tag)',
      description: 'Online devices get a signed service.uninstall now; offline ones lose the service from their desired state.',
      access: needs('assign_policies'), params: ServiceParam, body: DeactivateBody,
      response: z.object({ service: ServiceNameSchema, devices: DeviceResults }), errors: ['API_NOT_FOUND'],
      async handle({ account, params, body }) {
        const service = serviceParam(params.service);
        const devices = await selected(body);
        const { changed, revisions } = await store.transaction(async (tx) => {
          const active = (await tx.activations.forDevices(devices.map((d) => d.id))).filter((a) => a.service === service);
          if (service === 'backup') for (const a of active) must(decideBackupAccess(account.id, a.activatedBy));
          for (const a of active) await tx.activations.delete(a.deviceId, service);
          await tx.devices.bumpRevision(active.map((a) => a.deviceId));
          return { changed: new Set(active.map((a) => a.deviceId)), revisions: await revisionsOf(tx, active.map((a) => a.deviceId)) };
        });
        const online = devices.filter((d) => changed.has(d.id) && fleet.isOnline(d.id));
        const issued = await commands.issue(online.map((d) => ({ type: 'service.uninstall' as const, body: { deviceId: d.id, actor: account.id, service, ...revisions.get(d.id) } })), { skipFullQueues: true });
        return { body: { service, devices: results(devices, new Map(issued.flatMap((c) => (c ? [[c.deviceId, c.id] as const] : [])))) } };
      },
    }),
    route({
      method: 'GET', path: '/services/:service/overview', tag: 'services', summary: 'Devices where the service is activated, with their state',
      description: 'phase is pending until the device reports the service; applied is true once it runs the current policy version.',
      access: needs('view_devices'), params: ServiceParam, query: z.object(PageQuery),
      response: z.object({
        service: ServiceNameSchema,
        devices: z.array(z.object({ deviceId: z.string(), alias: z.nullable(z.string()), hostname: z.nullable(z.string()), online: z.boolean(), ...ServiceViewSchema.shape })),
        next: NextCursor,
      }),
      errors: ['API_NOT_FOUND'],
      async handle({ params, query }) {
        const service = serviceParam(params.service);
        const page = await store.activations.forService(service, pageRequest(query));
        const ids = page.items.map((a) => a.deviceId);
        const devices = new Map((await store.devices.many(ids)).map((d) => [d.id, d]));
        const reported = await store.deviceState.services(ids);
        const policies = new Map((await store.policies.many([...new Set(page.items.map((a) => a.policyId))])).map((p) => [p.id, p]));
        const entries = page.items.map((a) => {
          const device = devices.get(a.deviceId);
          const view = deviceServices([a], reported.get(a.deviceId) ?? [], policies).find((s) => s.name === service)!;
          return { deviceId: a.deviceId, alias: device?.facts.alias ?? null, hostname: device?.facts.hostname ?? null, online: fleet.isOnline(a.deviceId), ...view, activatedAtIso: isoOrNull(view.activatedAt) };
        });
        return { body: { service, devices: entries, next: page.next } };
      },
    }),
  ];
}
