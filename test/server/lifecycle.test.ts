// Life cycle over real sockets: a deleted device is refused by name (DEVICE_REVOKED), live or reconnecting; tokens
// are one-use and revocable (and a one-use token enrolls one device even when raced); policies in use and roles held
// cannot be deleted; built-in roles do not change.
import { describe, expect, it } from 'vitest';
import { generateKeyPair } from '../../src/protocol/sign.js';
import type { RunningServer } from '../../src/server/server.js';
import { apiOf, connectAgent, enroll, MONITORING_SETTINGS, newEnrollmentToken, stoppedAfterEach } from './helpers.js';

const { started, track } = stoppedAfterEach();

async function tryEnroll(server: RunningServer, token: string) {
  const agent = track(await connectAgent(server.agentUrl));
  await agent.sendEnroll(token);
  return Promise.race([agent.next('welcome').then(() => 'welcome' as const), agent.next('error').then((e) => e.body)]);
}

describe('deleting a device', () => {
  it('closes its connection with DEVICE_REVOKED, refuses its key afterwards, and removes its data', async () => {
    const server = await started();
    const api = apiOf(server);
    const agent = track(await enroll(server, await newEnrollmentToken(server)));
    await agent.next('desired');
    expect((await api('POST', `/devices/${agent.deviceId}/commands`, { type: 'status.request' })).status).toBe(202);
    const deleted = await api('DELETE', `/devices/${agent.deviceId}`);
    expect(deleted.body).toMatchObject({ id: agent.deviceId, revokedAtIso: expect.any(String) });
    expect((await agent.next('error')).body).toMatchObject({ code: 'DEVICE_REVOKED', fatal: true });
    expect((await agent.closed).code).toBe(4001);

    const back = track(await connectAgent(server.agentUrl));
    await back.sendAuth(agent.deviceId, agent.keys);
    expect((await back.next('error')).body).toMatchObject({ code: 'DEVICE_REVOKED', fatal: true, hint: expect.stringContaining('rmagent enroll') });
    expect((await back.closed).code).toBe(4001);

    expect((await api('GET', `/devices/${agent.deviceId}`)).status).toBe(404);
    expect((await api('GET', '/devices')).body.devices).toEqual([]);
    expect((await api('DELETE', `/devices/${agent.deviceId}`)).status).toBe(404);
    expect((await server.store.commands.listForDevice(agent.deviceId, { limit: 10, cursor: null })).items.every((c) => c.status !== 'queued' && c.status !== 'sent')).toBe(true);
  });

  it('a stranger presenting a deleted device id without its key still gets AUTH_FAILED, not a hint that the id existed', async () => {
    const server = await started();
    const agent = await enroll(server, await newEnrollmentToken(server));
    await agent.close();
    await apiOf(server)('DELETE', `/devices/${agent.deviceId}`);
    const stranger = track(await connectAgent(server.agentUrl));
    await stranger.sendAuth(agent.deviceId, generateKeyPair());
    expect((await stranger.next('error')).body.code).toBe('AUTH_FAILED');
  });
});

describe('enrollment tokens', () => {
  it('default to one use and one day; a revoked token enrolls nobody', async () => {
    const server = await started();
    const api = apiOf(server);
    const created = await api('POST', '/enrollment-tokens', {});
    expect(created.body).toMatchObject({ maxUses: 1, uses: 0, revoked: false });
    expect(created.body.expiresAt - created.body.createdAt).toBe(86_400_000);
    expect(await tryEnroll(server, created.body.token)).toBe('welcome');
    expect(await tryEnroll(server, created.body.token)).toMatchObject({ code: 'ENROLLMENT_REFUSED', message: expect.stringContaining('no uses left') });

    const fleet = await api('POST', '/enrollment-tokens', { maxUses: null, expiresInSec: 3600 });
    expect(fleet.body.maxUses).toBeNull();
    expect((await api('DELETE', `/enrollment-tokens/${fleet.body.id}`)).body).toMatchObject({ revoked: true, revokedBy: 'acct-owner', revokedAtIso: expect.any(String) });
    expect(await tryEnroll(server, fleet.body.token)).toMatchObject({ code: 'ENROLLMENT_REFUSED', message: expect.stringContaining('revoked') });
    expect((await api('GET', '/enrollment-tokens')).body.tokens.map((t: { id: string }) => t.id)).toEqual([created.body.id]);
    expect((await api('GET', '/enrollment-tokens?includeRevoked=true')).body.tokens).toHaveLength(2);
    expect(JSON.stringify((await api('GET', '/enrollment-tokens?includeRevoked=true')).body)).not.toContain(fleet.body.token);
    expect((await api('POST', '/enrollment-tokens', { expiresInSec: 91 * 86_400 })).status).toBe(400);
  });

  it('a one-use token raced by ten agents at once enrolls exactly one', async () => {
    const server = await started();
    const token = await newEnrollmentToken(server);
    const outcomes = await Promise.all(Array.from({ length: 10 }, () => tryEnroll(server, token)));
    expect(outcomes.filter((o) => o === 'welcome')).toHaveLength(1);
    expect((await apiOf(server)('GET', '/devices')).body.devices).toHaveLength(1);
  });
});

describe('policies and roles', () => {
  it('a policy in use cannot be deleted; once no device runs it, it can', async () => {
    const server = await started();
    const api = apiOf(server);
    const agent = track(await enroll(server, await newEnrollmentToken(server)));
    const policy = (await api('POST', '/policies', { name: 'p', service: 'monitoring', settings: MONITORING_SETTINGS })).body;
    await api('POST', '/services/monitoring/activate', { deviceIds: [agent.deviceId], policyId: policy.id });
    const refused = await api('DELETE', `/policies/${policy.id}`);
    expect(refused.status).toBe(409);
    expect(refused.body.error).toMatchObject({ code: 'API_CONFLICT', message: expect.stringContaining('1 device') });
    await api('POST', '/services/monitoring/deactivate', { deviceIds: [agent.deviceId] });
    expect((await api('DELETE', `/policies/${policy.id}`)).body).toEqual({ id: policy.id, deleted: true });
    expect((await api('GET', `/policies/${policy.id}`)).status).toBe(404);
  });

  it('roles are created, changed and deleted when nobody holds them; built-in roles stay as they are', async () => {
    const server = await started();
    const api = apiOf(server);
    const role = (await api('POST', '/roles', { name: 'helpdesk', permissions: ['view_devices'] })).body;
    expect((await api('PATCH', `/roles/${role.id}`, { permissions: ['view_devices', 'view_own_alerts'] })).body.permissions).toEqual(['view_devices', 'view_own_alerts']);
    const account = (await api('POST', '/accounts', { name: 'h', roleIds: [role.id] })).body;
    expect((await api('DELETE', `/roles/${role.id}`)).status).toBe(409);
    await api('PATCH', `/accounts/${account.id}`, { roleIds: [] });
    expect((await api('DELETE', `/roles/${role.id}`)).status).toBe(200);
    expect((await api('PATCH', '/roles/role-user', { permissions: ['manage_accounts'] })).status).toBe(409);
    expect((await api('DELETE', '/roles/role-company-admin')).status).toBe(409);
    expect((await api('GET', '/roles')).body.roles.filter((r: { builtIn: boolean }) => r.builtIn)).toHaveLength(3);
  });
});
