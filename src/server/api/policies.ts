// Policy routes: versioned policies checked against their service's schema; a change is sent to the devices that
// run the policy; a policy still in use cannot be deleted.
import * as z from 'zod/mini';
import { RmError } from '../../protocol/errors.js';
import { ServiceNameSchema, type ServiceName } from '../../protocol/model.js';
import { decideBackupAccess, needs } from '../access.js';
import { policyOnWire, revisionsOf } from '../desired.js';
import { checkPolicySettings, policyJsonSchema } from '../policy-schemas.js';
import { newId } from '../secrets.js';
import { policyView, PolicyViewSchema } from '../views.js';
import type { PolicyRecord } from '../store/store.js';
import type { ApiDeps } from './deps.js';
import { conflict, IdParam, must, NextCursor, notFound, PageQuery, pageRequest, route, type Route } from './route.js';

/** Services no agent runs: refused at policy creation and activation. */
export const UNSUPPORTED_SERVICES: readonly ServiceName[] = ['endpoint-protection'];

export function refuseUnsupported(service: ServiceName): void {
  if (UNSUPPORTED_SERVICES.includes(service)) throw new RmError('SERVICE_NOT_SUPPORTED', `${service}: no rmagent agent runs this service`);
}

const Name = z.string().check(z.minLength(1), z.maxLength(200));
const PolicyBody = z.strictObject({ name: Name, service: ServiceNameSchema, settings: z.record(z.string(), z.unknown()).check(z.describe("checked against the service's policy schema (docs/policies.md); defaults are filled in")) });
const PolicyUpdateBody = z.strictObject({ name: z.optional(Name), settings: z.record(z.string(), z.unknown()) });

function settingsOrThrow(service: ServiceName, settings: unknown): Record<string, unknown> {
  const checked = checkPolicySettings(service, settings);
  if (!checked.ok) throw new RmError('API_INVALID', checked.message);
  return checked.settings;
}

export function policyRoutes({ store, clock, commands, fleet, logger }: ApiDeps): Route[] {
  const policyOrThrow = async (id: string): Promise<PolicyRecord> => {
    const policy = await store.policies.get(id);
    if (!policy) throw notFound(`policy ${id}`);
    return policy;
  };
  return [
    route({
      method: 'GET', path: '/policies', tag: 'policies', summary: 'List policies', access: needs('manage_policies', 'assign_policies'),
      query: z.object({ service: z.optional(ServiceNameSchema), ...PageQuery }),
      response: z.object({ policies: z.array(PolicyViewSchema), next: NextCursor }),
      async handle({ query }) {
        const page = await store.policies.list(pageRequest(query), query.service ? { service: query.service } : {});
        return { body: { policies: page.items.map(policyView), next: page.next } };
      },
    }),
    route({
      method: 'GET', path: '/services/:service/policy-schema', tag: 'policies', summary: "JSON Schema of a service's policy settings",
      description: "Generated from the zod schema the agent checks policies with (draft 2020-12, input form: a field with a default may be left out). The web console builds its policy form from it; POST/PUT /policies check settings against the same schema.",
      access: needs('manage_policies', 'assign_policies'), params: z.strictObject({ service: z.string().check(z.maxLength(64)) }),
      response: z.object({ service: ServiceNameSchema, supported: z.boolean(), schema: z.record(z.string(), z.unknown()) }), errors: ['API_NOT_FOUND'],
      handle({ params }) {
        const parsed = ServiceNameSchema.safeParse(params.service);
        if (!parsed.success) throw notFound(`service ${params.service}`);
        return { body: { service: parsed.data, supported: !UNSUPPORTED_SERVICES.includes(parsed.data), schema: policyJsonSchema(parsed.data) } };
      },
    }),
    route({
      method: 'GET', path: '/policies/:id', tag: 'policies', summary: 'One policy', access: needs('manage_policies', 'assign_policies'),
      params: IdParam, response: PolicyViewSchema, errors: ['API_NOT_FOUND'],
      handle: async ({ params }) => ({ body: policyView(await policyOrThrow(params.id)) }),
    }),
    route({
      method: 'POST', path: '/policies', tag: 'policies', summary: 'Create a policy (version 1)', access: needs('manage_policies'),
      body: PolicyBody, status: 201, response: PolicyViewSchema, errors: ['SERVICE_NOT_SUPPORTED'],
      async handle({ account, body }) {
        refuseUnsupported(body.service);
        const now = clock.now();
        const policy: PolicyRecord = { id: newId('pol'), name: body.name, service: body.service, version: 1, settings: settingsOrThrow(body.service, body.settings), createdBy: account.id, createdAt: now, updatedAt: now };
        await store.policies.insert(policy);
        return { status: 201, body: policyView(policy) };
      },
    }),
    route({
      method: 'PUT', path: '/policies/:id', tag: 'policies', summary: 'Change a policy (version + 1); devices running it get it',
      description: 'Online devices where the policy is assigned get a signed policy.assign now; offline ones get it in their desired state when they connect. A Backup policy assigned to devices activated by another account is refused (Backup owner).',
      access: needs('manage_policies'), params: IdParam, body: PolicyUpdateBody,
      response: z.object({ policy: PolicyViewSchema, assignedTo: z.array(z.string()), sent: z.array(z.object({ deviceId: z.string(), commandId: z.string() })) }),
      errors: ['API_NOT_FOUND'],
      async handle({ account, params, body }) {
        const { policy, assigned, revisions } = await store.transaction(async (tx) => {
          const current = await tx.policies.get(params.id, { forUpdate: true });
          if (!current) throw notFound(`policy ${params.id}`);
          const settings = settingsOrThrow(current.service, body.settings);
          const assigned = await tx.activations.byPolicy(current.id);
          if (current.service === 'backup') for (const a of assigned) must(decideBackupAccess(account.id, a.activatedBy));
          const next: PolicyRecord = { ...current, name: body.name ?? current.name, settings, version: current.version + 1, updatedAt: clock.now() };
          await tx.policies.update(next.id, next);
          await tx.devices.bumpRevision(assigned.map((a) => a.deviceId));
          return { policy: next, assigned, revisions: await revisionsOf(tx, assigned.map((a) => a.deviceId)) };
        });
        const online = assigned.filter((a) => fleet.isOnline(a.deviceId));
        const issued = await commands.issue(online.map((a) => ({ type: 'policy.assign' as const, body: { deviceId: a.deviceId, actor: account.id, service: policy.service, policy: policyOnWire(policy), ...revisions.get(a.deviceId) } })), { skipFullQueues: true });
        const sent = issued.flatMap((c) => (c ? [{ deviceId: c.deviceId, commandId: c.id }] : []));
        logger.info('policy changed', { policyId: policy.id, version: policy.version, devices: assigned.length, actor: account.id });
        return { body: { policy: policyView(policy), assignedTo: assigned.map((a) => a.deviceId), sent } };
      },
    }),
    route({
      method: 'DELETE', path: '/policies/:id', tag: 'policies', summary: 'Delete a policy no device uses', access: needs('manage_policies'),
      params: IdParam, response: z.object({ id: z.string(), deleted: z.literal(true) }), errors: ['API_NOT_FOUND', 'API_CONFLICT'],
      async handle({ params }) {
        await store.transaction(async (tx) => {
          if (!(await tx.policies.get(params.id, { forUpdate: true }))) throw notFound(`policy ${params.id}`);
          const used = await tx.activations.byPolicy(params.id);
          if (used.length) throw conflict(`policy ${params.id} is assigned to ${used.length} device(s); deactivate the service there or activate another policy first`);
          await tx.policies.delete(params.id);
        });
        return { body: { id: params.id, deleted: true as const } };
      },
    }),
  ];
}
