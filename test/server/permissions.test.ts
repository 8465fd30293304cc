// Attacks on the API's permission checks over real loopback sockets: an account with no permission tries every
// route the OpenAPI document lists (reads included: devices, reports, commands, overviews); accounts outside an
// alert's scope read a device's alert reports and `latest`; a disabled account and a replaced token come back.
import { describe, expect, it } from 'vitest';
import type { RunningServer } from '../../src/server/server.js';
import { accountWith, apiOf, enroll, MONITORING_SETTINGS, newEnrollmentToken, sendReports, stoppedAfterEach } from './helpers.js';
import { inventoryData } from './report-data.js';

const { started, track } = stoppedAfterEach();

const raised = (seq: number, service = 'monitoring') => ({ seq, kind: 'alert.raised' as const, at: seq, data: { key: `cpu-${seq}`, service, check: 'cpu', severity: 'warning', message: 'hot' } });

/** A fleet with something behind every id: a device with reports, an alert and a command, a policy, a webhook, a token. */
async function populated(server: RunningServer) {
  const owner = apiOf(server);
  const agent = track(await enroll(server, await newEnrollmentToken(server)));
  const policy = (await owner('POST', '/policies', { name: 'p', service: 'monitoring', settings: MONITORING_SETTINGS })).body;
  await owner('POST', '/services/monitoring/activate', { deviceIds: [agent.deviceId], policyId: policy.id });
  await sendReports(agent, [{ seq: 1, kind: 'inventory', at: 1, data: inventoryData('serial-123') }, raised(2)]);
  const alertId = (await owner('GET', '/alerts')).body.alerts[0].id as string;
  const webhook = (await owner('POST', '/webhooks', { url: 'http://127.0.0.1:9/hook' })).body;
  const token = (await owner('POST', '/enrollment-tokens', {})).body;
  const role = (await owner('POST', '/roles', { name: 'r', permissions: [] })).body;
  /** The id to put in {id}, by the route's first segment. */
  const ids: Record<string, string> = { devices: agent.deviceId, alerts: alertId, policies: policy.id, webhooks: webhook.id, 'enrollment-tokens': token.id, roles: role.id, accounts: 'acct-owner' };
  return { agent, ids };
}

describe('an account without permissions', () => {
  it('is refused (403) on every route that needs a permission, reads included: devices, reports, commands, overviews, alerts', async () => {
    const server = await started();
    const { ids } = await populated(server);
    const nobody = await accountWith(server, [], 'nobody');
    const doc = (await fetch(`${server.httpUrl}/api/v1/openapi.json`).then((r) => r.json())) as { paths: Record<string, Record<string, { 'x-rmagent-access'?: { kind?: string } }>> };
    const open: string[] = [];
    const tried: string[] = [];
    for (const [template, operations] of Object.entries(doc.paths)) {
      if (!template.startsWith('/api/v1/') || template === '/api/v1/openapi.json' || template === '/api/v1/me') continue;
      const bare = template.slice('/api/v1'.length).replace('{service}', 'monitoring');
      const route = bare.replace('{id}', ids[bare.split('/')[1]!] ?? 'unknown-id');
      for (const [method, operation] of Object.entries(operations)) {
        // Any account may read its own session, sign out and activate a licence it holds the key of; sign-in is public.
        if (operation['x-rmagent-access']?.kind !== undefined) {
          open.push(`${method.toUpperCase()} ${bare}`);
          continue;
        }
        const res = await nobody.api(method.toUpperCase(), route, method === 'get' || method === 'delete' ? undefined : {});
        tried.push(`${method.toUpperCase()} ${route}`);
        expect(res.status, `${method.toUpperCase()} ${route}: ${JSON.stringify(res.body)}`).toBe(403);
        expect(res.body.error.code).toBe('API_FORBIDDEN');
        expect(JSON.stringify(res.body)).not.toContain('serial-123');
      }
    }
    // The reads named in the issue are among them.
    for (const read of ['GET /devices', `GET /devices/${ids.devices}`, `GET /devices/${ids.devices}/reports`, `GET /devices/${ids.devices}/commands`, 'GET /services/monitoring/overview']) expect(tried).toContain(read);
    expect(tried.length).toBeGreaterThan(30);
    expect(open.sort()).toEqual(['DELETE /session', 'GET /session', 'POST /licences/activate', 'POST /licences/lookup', 'POST /session', 'POST /signup', 'POST /verify-email']);
  });
});

describe('alert scope on reports and latest', () => {
  /** A device with Monitoring activated by `activator`, and accounts that see its alerts: none, own, all. */
  async function fourAccountsAndADevice() {
    const server = await started();
    const activator = await accountWith(server, ['view_devices', 'view_own_alerts', 'assign_policies', 'manage_policies'], 'activator');
    const viewer = await accountWith(server, ['view_devices'], 'viewer');
    const bystander = await accountWith(server, ['view_devices', 'view_own_alerts'], 'bystander');
    const auditor = await accountWith(server, ['view_devices', 'view_all_alerts'], 'auditor');
    const agent = track(await enroll(server, await newEnrollmentToken(server)));
    const policy = (await activator.api('POST', '/policies', { name: 'p', service: 'monitoring', settings: MONITORING_SETTINGS })).body;
    expect((await activator.api('POST', '/services/monitoring/activate', { deviceIds: [agent.deviceId], policyId: policy.id })).status).toBe(200);
    return { server, agent, activator, viewer, bystander, auditor };
  }

  it("view_devices alone shows a device's other reports but none of its alerts; view_own_alerts only those of services the account activated", async () => {
    const { agent, activator, viewer, bystander, auditor } = await fourAccountsAndADevice();
    await sendReports(agent, [{ seq: 1, kind: 'inventory', at: 1, data: inventoryData() }, raised(2), raised(3, 'backup')]);

    const kindsOf = async (who: typeof viewer) => {
      const reports = (await who.api('GET', `/devices/${agent.deviceId}/reports`)).body.reports.map((r: { seq: number }) => r.seq);
      const latest = Object.keys((await who.api('GET', `/devices/${agent.deviceId}`)).body.latest).sort();
      return { reports, latest };
    };
    expect(await kindsOf(viewer)).toEqual({ reports: [1], latest: ['inventory'] });
    expect(await kindsOf(bystander)).toEqual({ reports: [1], latest: ['inventory'] });
    // The activator owns monitoring on the device, not backup: it sees seq 2, not seq 3.
    expect((await kindsOf(activator)).reports).toEqual([1, 2]);
    expect(await kindsOf(auditor)).toEqual({ reports: [1, 2, 3], latest: ['alert.raised', 'inventory'] });
    // The kind filter cannot be used to get around it either.
    expect((await viewer.api('GET', `/devices/${agent.deviceId}/reports?kind=alert.raised`)).body.reports).toEqual([]);
  });


  it("a device's alerts as its console page reads them (GET /alerts?deviceId=): all, own or none by permission; acknowledging one outside the scope is refused", async () => {
    const { agent, activator, viewer, bystander, auditor } = await fourAccountsAndADevice();
    await sendReports(agent, [raised(1), raised(2, 'backup')]);
    const keysOf = async (who: typeof viewer) => {
      const res = await who.api('GET', `/alerts?deviceId=${agent.deviceId}`);
      return res.status === 200 ? { scope: res.body.scope, keys: res.body.alerts.map((a: { key: string }) => a.key).sort() } : res.status;
    };
    expect(await keysOf(viewer)).toBe(403);
    expect(await keysOf(bystander)).toEqual({ scope: 'own', keys: [] });
    expect(await keysOf(activator)).toEqual({ scope: 'own', keys: ['cpu-1'] });
    expect(await keysOf(auditor)).toEqual({ scope: 'all', keys: ['cpu-1', 'cpu-2'] });
    const backupAlert = (await auditor.api('GET', `/alerts?deviceId=${agent.deviceId}`)).body.alerts.find((a: { key: string }) => a.key === 'cpu-2');
    expect((await activator.api('POST', `/alerts/${backupAlert.id}/ack`, {})).status).toBe(403);
    expect((await auditor.api('GET', `/alerts/${backupAlert.id}`)).body.ackedBy).toBeNull();
  });
});

describe('policies: the console form and the API need manage_policies to change them', () => {
  it('a member who may assign policies but not manage them is refused creating or changing one (403), and the policy stays as it was', async () => {
    const server = await started();
    const manager = await accountWith(server, ['manage_policies'], 'manager');
    const assigner = await accountWith(server, ['assign_policies', 'view_devices'], 'assigner');
    const policy = (await manager.api('POST', '/policies', { name: 'p', service: 'monitoring', settings: MONITORING_SETTINGS })).body;
    // Reading the schema the form is built from is allowed (assigning needs to see policies), changing is not.
    expect((await assigner.api('GET', '/services/monitoring/policy-schema')).status).toBe(200);
    const created = await assigner.api('POST', '/policies', { name: 'mine', service: 'monitoring', settings: MONITORING_SETTINGS });
    expect([created.status, created.body.error.code]).toEqual([403, 'API_FORBIDDEN']);
    const changed = await assigner.api('PUT', `/policies/${policy.id}`, { name: 'hijacked', settings: { checks: [] } });
    expect([changed.status, changed.body.error.code]).toEqual([403, 'API_FORBIDDEN']);
    expect((await manager.api('GET', `/policies/${policy.id}`)).body).toMatchObject({ name: 'p', version: 1 });
    expect((await manager.api('GET', '/policies')).body.policies).toHaveLength(1);
  });

  it("serves each service's policy JSON Schema from the agent's zod schema: monitoring checks need no id (the server names them)", async () => {
    const server = await started();
    const schema = (await apiOf(server)('GET', '/services/monitoring/policy-schema')).body.schema;
    const cpu = schema.properties.checks.items.oneOf.find((v: { properties: { type: { const: string } } }) => v.properties.type.const === 'cpu');
    expect(cpu.required).toEqual(['type']);
    expect(cpu.properties.threshold).toMatchObject({ type: 'number', minimum: 0, maximum: 100 });
    expect((await apiOf(server)('GET', '/services/nope/policy-schema')).status).toBe(404);
  });
});

describe('disabled accounts and replaced tokens', () => {
  it('a disabled account is refused with 401 API_ACCOUNT_DISABLED until enabled; a replaced token stops working at once', async () => {
    const server = await started();
    const alice = await accountWith(server, ['view_devices'], 'alice');
    const owner = apiOf(server);
    expect((await alice.api('GET', '/devices')).status).toBe(200);
    expect((await owner('PATCH', `/accounts/${alice.id}`, { disabled: true })).body).toMatchObject({ disabled: true, disabledAtIso: expect.any(String) });
    const refused = await alice.api('GET', '/devices');
    expect(refused.status).toBe(401);
    expect(refused.body.error.code).toBe('API_ACCOUNT_DISABLED');
    await owner('PATCH', `/accounts/${alice.id}`, { disabled: false });
    expect((await alice.api('GET', '/devices')).status).toBe(200);
    const fresh = (await owner('POST', `/accounts/${alice.id}/token`)).body.token as string;
    expect((await alice.api('GET', '/devices')).status).toBe(401);
    expect((await apiOf(server, fresh)('GET', '/devices')).status).toBe(200);
  });

  it('nobody locks themselves out: no self-disable, no removing your own manage_accounts, the owner stays enabled', async () => {
    const server = await started();
    const admin = await accountWith(server, ['manage_accounts'], 'admin');
    expect((await admin.api('PATCH', `/accounts/${admin.id}`, { disabled: true })).status).toBe(403);
    expect((await admin.api('PATCH', `/accounts/${admin.id}`, { roleIds: ['role-user'] })).status).toBe(403);
    expect((await admin.api('PATCH', '/accounts/acct-owner', { disabled: true })).status).toBe(409);
    const role = (await admin.api('GET', '/me')).body.roles[0].id;
    expect((await admin.api('PATCH', `/roles/${role}`, { permissions: [] })).status).toBe(403);
  });
});
