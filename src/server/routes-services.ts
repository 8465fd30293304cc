// Policy and service routes (seed steps 3-5): versioned policies, activating a service with a policy on
// chosen devices, deactivating it, and the per-service overview.
import * as z from 'zod/mini';
import { IdSchema, ServiceNameSchema, type ServiceName } from '../protocol/model.js';
import { decideBackupAccess, requirePermission } from './access.js';
import { deviceServices, policyOnWire } from './desired.js';
import { must, notFound, parseBody, type Route } from './http.js';
import { checkPolicySettings } from './policy-schemas.js';
import { activationOf } from './reports.js';
import { newId } from './secrets.js';
import { RmError } from '../protocol/errors.js';
import type { ApiDeps } from './routes.js';
import type { PolicyRecord } from './store.js';

const PolicyBody = z.strictObject({ name: z.string().check(z.minLength(1), z.maxLength(200)), service: ServiceNameSchema, settings: z.record(z.string(), z.unknown()) });
const PolicyUpdateBody = z.strictObject({ name: z.optional(z.string().check(z.minLength(1), z.maxLength(200))), settings: z.record(z.string(), z.unknown()) });
const ActivateBody = z.strictObject({ deviceIds: z.array(IdSchema).check(z.minLength(1), z.maxLength(10_000)), policyId: IdSchema });
const DeactivateBody = z.strictObject({ deviceIds: z.array(IdSchema).check(z.minLength(1), z.maxLength(10_000)) });

function serviceParam(value: string | undefined): ServiceName {
  const parsed = ServiceNameSchema.safeParse(value);
  if (!parsed.success) throw notFound(`service ${value}`);
  return parsed.data;
}

function settingsOrThrow(service: ServiceName, settings: unknown): Record<string, unknown> {
  const checked = checkPolicySettings(service, settings);
  if (!checked.ok) throw new RmError('API_INVALID', checked.message);
  return checked.settings;
}

export function serviceRoutes({ store, clock, commands, fleet }: ApiDeps): Route[] {
  // Online devices get the command now; offline ones get the same change in their desired state on reconnect.
  async function sendToOnline(devices: readonly { id: string }[], issue: (deviceId: string) => Promise<{ id: string }>) {
    const results = [];
    for (const device of devices) {
      const online = fleet.isOnline(device.id);
      const cmd = online ? await issue(device.id) : null;
      results.push({ deviceId: device.id, online, commandId: cmd?.id ?? null });
    }
    return results;
  }

  const policyOrThrow = (id: string): PolicyRecord => {
    const policy = store.data.policies.find((p) => p.id === id);
    if (!policy) throw notFound(`policy ${id}`);
    return policy;
  };
  const devicesOrThrow = (ids: string[]) =>
    ids.map((id) => {
      const device = store.data.devices.find((d) => d.id === id);
      if (!device) throw notFound(`device ${id}`);
      return device;
    });
  // Backup belongs to the account that activated it on a device: nobody else changes it.
  const guardBackup = (service: ServiceName, accountId: string, deviceIds: string[]) => {
    if (service !== 'backup') return;
    for (const id of deviceIds) must(decideBackupAccess(accountId, activationOf(store.data, id, 'backup')?.activatedBy));
  };

  return [
    { method: 'GET', path: '/policies', handle: () => ({ body: { policies: store.data.policies } }) },
    { method: 'GET', path: '/policies/:id', handle: ({ params }) => ({ body: policyOrThrow(params.id!) }) },
    {
      method: 'POST',
      path: '/policies',
      async handle({ account, perms, body }) {
        must(requirePermission(perms, 'manage_policies'));
        const input = parseBody(PolicyBody, body);
        const policy: PolicyRecord = { id: newId('pol'), name: input.name, service: input.service, version: 1, settings: settingsOrThrow(input.service, input.settings), createdBy: account.id, updatedAt: clock.now() };
        store.data.policies.push(policy);
        await store.commit();
        return { status: 201, body: policy };
      },
    },
    {
      method: 'PUT',
      path: '/policies/:id',
      async handle({ account, perms, params, body }) {
        must(requirePermission(perms, 'manage_policies'));
        const policy = policyOrThrow(params.id!);
        const input = parseBody(PolicyUpdateBody, body);
        const settings = settingsOrThrow(policy.service, input.settings);
        const assigned = store.data.activations.filter((a) => a.policyId === policy.id);
        guardBackup(policy.service, account.id, assigned.map((a) => a.deviceId));
        Object.assign(policy, { name: input.name ?? policy.name, settings, version: policy.version + 1, updatedAt: clock.now() });
        for (const a of assigned) {
          const device = store.data.devices.find((d) => d.id === a.deviceId);
          if (device) device.revision += 1;
        }
        await store.commit();
        const sent = [];
        for (const a of assigned) {
          if (!fleet.isOnline(a.deviceId)) continue;
          const cmd = await commands.issue('policy.assign', { deviceId: a.deviceId, actor: account.id, service: policy.service, policy: policyOnWire(policy) });
          sent.push({ deviceId: a.deviceId, commandId: cmd.id });
        }
        return { body: { policy, assignedTo: assigned.map((a) => a.deviceId), sent } };
      },
    },
    {
      method: 'POST',
      path: '/services/:service/activate',
      async handle({ account, perms, params, body }) {
        must(requirePermission(perms, 'assign_policies'));
        const service = serviceParam(params.service);
        const input = parseBody(ActivateBody, body);
        const policy = policyOrThrow(input.policyId);
        if (policy.service !== service) throw new RmError('API_INVALID', `policyId: policy ${policy.id} is a ${policy.service} policy, not ${service}`);
        const devices = devicesOrThrow(input.deviceIds);
        guardBackup(service, account.id, input.deviceIds);
        const now = clock.now();
        for (const device of devices) {
          const existing = activationOf(store.data, device.id, service);
          if (existing) Object.assign(existing, { policyId: policy.id, at: now, activatedBy: account.id });
          else store.data.activations.push({ deviceId: device.id, service, policyId: policy.id, activatedBy: account.id, at: now });
          device.revision += 1;
        }
        await store.commit();
        const results = await sendToOnline(devices, (deviceId) => commands.issue('service.install', { deviceId, actor: account.id, service, policy: policyOnWire(policy) }));
        return { body: { service, policy: { id: policy.id, version: policy.version }, devices: results } };
      },
    },
    {
      method: 'POST',
      path: '/services/:service/deactivate',
      async handle({ account, perms, params, body }) {
        must(requirePermission(perms, 'assign_policies'));
        const service = serviceParam(params.service);
        const input = parseBody(DeactivateBody, body);
        const devices = devicesOrThrow(input.deviceIds);
        guardBackup(service, account.id, input.deviceIds);
        for (const device of devices) {
          const existing = activationOf(store.data, device.id, service);
          if (!existing) continue;
          store.data.activations.splice(store.data.activations.indexOf(existing), 1);
          device.revision += 1;
        }
        await store.commit();
        const results = await sendToOnline(devices, (deviceId) => commands.issue('service.uninstall', { deviceId, actor: account.id, service }));
        return { body: { service, devices: results } };
      },
    },
    {
      method: 'GET',
      path: '/services/:service/overview',
      handle({ params }) {
        const service = serviceParam(params.service);
        const devices = store.data.activations
          .filter((a) => a.service === service)
          .map((a) => {
            const device = store.data.devices.find((d) => d.id === a.deviceId);
            const view = device ? deviceServices(store.data, device).find((s) => s.name === service) : undefined;
            return { deviceId: a.deviceId, alias: device?.facts.alias ?? null, hostname: device?.facts.hostname ?? null, online: fleet.isOnline(a.deviceId), activatedBy: a.activatedBy, activatedAt: a.at, ...view };
          });
        return { body: { service, devices } };
      },
    },
  ];
}
