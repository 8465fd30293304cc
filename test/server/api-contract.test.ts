// The API's contract over real loopback sockets: JSON errors for wrong methods (405) and big bodies (413), health
// without a token, the OpenAPI document, pagination, ISO-8601 times, tags and activation by tag, alerts with their
// device's names, patches.install, and Endpoint Protection refused.
import http from 'node:http';
import net from 'node:net';
import { describe, expect, it } from 'vitest';
import type { RunningServer } from '../../src/server/server.js';
import { CONSOLE_COMMANDS } from '../../src/server/api/devices.js';
import { apiOf, enroll, MONITORING_SETTINGS, newEnrollmentToken, sendReports, serverIn, tempDir, stoppedAfterEach } from './helpers.js';

const { started, track } = stoppedAfterEach();

/**
 * POSTs `chunks` × 64 KiB with node:http and reads the answer even when it comes while the body is still being sent
 * (fetch reports a network error once the server stops reading, as servers do after a 413).
 */
function postInChunks(server: RunningServer, chunks: number, withLength: boolean): Promise<{ status: number; body: string }> {
  const chunk = 'x'.repeat(64 * 1024);
  return new Promise((resolve, reject) => {
    const headers: Record<string, string | number> = { authorization: `Bearer ${server.ownerToken}`, 'content-type': 'application/json', ...(withLength ? { 'content-length': chunks * chunk.length } : {}) };
    const req = http.request(`${server.httpUrl}/api/v1/policies`, { method: 'POST', headers }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', (err: NodeJS.ErrnoException) => (err.code === 'EPIPE' || err.code === 'ECONNRESET' ? undefined : reject(err)));
    let sent = 0;
    const pump = () => {
      while (sent < chunks) {
        sent += 1;
        if (!req.write(chunk)) return void req.once('drain', pump);
      }
      req.end();
    };
    pump();
  });
}

describe('HTTP errors are JSON', () => {
  it('a wrong method gets 405 with an Allow header, an unknown path 404, both as {error}', async () => {
    const server = await started();
    const res = await fetch(`${server.httpUrl}/api/v1/devices`, { method: 'PUT', headers: { authorization: `Bearer ${server.ownerToken}` } });
    expect(res.status).toBe(405);
    expect(res.headers.get('allow')).toBe('GET');
    expect(res.headers.get('content-type')).toContain('application/json');
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe('API_METHOD_NOT_ALLOWED');
    const del = await fetch(`${server.httpUrl}/api/v1/devices/dev-x/reports`, { method: 'DELETE' });
    expect(del.status).toBe(405);
    const missing = await fetch(`${server.httpUrl}/api/v1/nothing`, { headers: { authorization: `Bearer ${server.ownerToken}` } });
    expect(missing.status).toBe(404);
    expect(((await missing.json()) as { error: { code: string } }).error.code).toBe('API_NOT_FOUND');
  });

  it('a body over 1 MiB gets 413 as JSON, with or without a content-length, and the server goes on', async () => {
    const server = await started();
    const declared = await postInChunks(server, 17, true);
    expect(declared.status).toBe(413);
    expect(JSON.parse(declared.body).error.code).toBe('API_BODY_TOO_LARGE');
    // Streamed (chunked, no content-length): the limit is counted as the body arrives.
    const chunked = await postInChunks(server, 40, false);
    expect(chunked.status).toBe(413);
    expect(JSON.parse(chunked.body).error.code).toBe('API_BODY_TOO_LARGE');
    expect((await apiOf(server)('GET', '/me')).status).toBe(200);
  });

  it('an unauthenticated client is refused before its body is read', async () => {
    const server = await started();
    const res = await fetch(`${server.httpUrl}/api/v1/policies`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: 'x'.repeat(512 * 1024) });
    expect(res.status).toBe(401);
  });
});

describe('health and description', () => {
  it('/healthz and /readyz answer without a token; the OpenAPI 3.1 document describes every route with its access', async () => {
    const server = await started();
    expect(await (await fetch(`${server.httpUrl}/healthz`)).json()).toEqual({ status: 'ok' });
    expect(await (await fetch(`${server.httpUrl}/readyz`)).json()).toEqual({ status: 'ready' });
    const doc = (await (await fetch(`${server.httpUrl}/api/v1/openapi.json`)).json()) as { openapi: string; paths: Record<string, Record<string, { 'x-rmagent-access': unknown; responses: Record<string, unknown> }>>; components: { schemas: Record<string, unknown> } };
    expect(doc.openapi).toBe('3.1.0');
    const reports = doc.paths['/api/v1/devices/{id}/reports']!.get!;
    expect(reports['x-rmagent-access']).toEqual({ anyOf: ['view_devices'] });
    expect(Object.keys(reports.responses)).toEqual(expect.arrayContaining(['200', '401', '403', '404']));
    expect(doc.paths['/api/v1/policies']!.post!.responses['413']).toBeDefined();
    expect(JSON.stringify(doc)).not.toContain('#/$defs/');
  });

  it('/readyz says 503 SERVER_NOT_READY while the server stops', async () => {
    const server = await serverIn(await tempDir());
    // A raw WebSocket that never answers the closing handshake keeps the stop in its 3 s budget: time to ask.
    const socket = net.connect(server.port, '127.0.0.1');
    await new Promise<void>((resolve) => socket.once('connect', resolve));
    socket.write(`GET /agent HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${Buffer.alloc(16, 1).toString('base64')}\r\nSec-WebSocket-Version: 13\r\n\r\n`);
    await new Promise<void>((resolve) => socket.once('data', () => resolve()));
    const stopping = server.stop();
    const res = await fetch(`${server.httpUrl}/readyz`);
    expect(res.status).toBe(503);
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe('SERVER_NOT_READY');
    expect((await fetch(`${server.httpUrl}/healthz`)).status).toBe(200);
    await stopping;
    socket.destroy();
  });
});

describe('lists, times and tags', () => {
  it('pages devices with limit and cursor, filters by tag, and gives every time with its ISO-8601 twin', async () => {
    const server = await started();
    const api = apiOf(server);
    const finance = await newEnrollmentToken(server, { maxUses: 3, tags: ['finance'] });
    const other = await newEnrollmentToken(server, { maxUses: 2 });
    for (const name of ['a', 'b', 'c']) track(await enroll(server, finance, `fin-${name}`));
    for (const name of ['d', 'e']) track(await enroll(server, other, `ops-${name}`));
    const first = await api('GET', '/devices?limit=2');
    expect(first.body.devices).toHaveLength(2);
    expect(first.body.next).toEqual(expect.any(String));
    const ids = [...first.body.devices];
    let next = first.body.next;
    while (next) {
      const page = await api('GET', `/devices?limit=2&cursor=${encodeURIComponent(next)}`);
      ids.push(...page.body.devices);
      next = page.body.next;
    }
    expect(ids.map((d: { hostname: string }) => d.hostname)).toEqual(['fin-a', 'fin-b', 'fin-c', 'ops-d', 'ops-e']);
    const d = ids[0];
    expect(new Date(d.enrolledAtIso).getTime()).toBe(d.enrolledAt);
    expect(new Date(d.lastSeenIso).getTime()).toBe(d.lastSeen);
    expect((await api('GET', '/devices?tag=finance')).body.devices.map((x: { tags: string[] }) => x.tags)).toEqual([['finance'], ['finance'], ['finance']]);
    expect((await api('GET', '/tags')).body.tags).toEqual([{ tag: 'finance', devices: 3 }]);
    expect((await api('GET', '/devices?limit=0')).status).toBe(400);
    expect((await api('GET', '/devices?cursor=garbage')).body.error.code).toBe('API_INVALID');
  });

  it('activates a service on every device carrying a tag; tags are set per device and in bulk', async () => {
    const server = await started();
    const api = apiOf(server);
    const token = await newEnrollmentToken(server, { maxUses: 3 });
    const agents = [track(await enroll(server, token, 'a')), track(await enroll(server, token, 'b')), track(await enroll(server, token, 'c'))];
    expect((await api('PATCH', `/devices/${agents[0]!.deviceId}`, { tags: ['kiosk'] })).body.tags).toEqual(['kiosk']);
    expect((await api('POST', '/devices/tags', { deviceIds: [agents[1]!.deviceId], add: ['kiosk', 'lobby'] })).body.devices).toBe(1);
    const policy = (await api('POST', '/policies', { name: 'm', service: 'monitoring', settings: MONITORING_SETTINGS })).body;
    const activated = await api('POST', '/services/monitoring/activate', { tags: ['kiosk'], policyId: policy.id });
    expect(activated.status).toBe(200);
    expect(activated.body.devices.map((x: { deviceId: string }) => x.deviceId).sort()).toEqual([agents[0]!.deviceId, agents[1]!.deviceId].sort());
    await agents[0]!.next('service.install');
    await agents[1]!.next('service.install');
    expect(agents[2]!.frames.some((f) => f.type === 'service.install')).toBe(false);
    expect((await api('POST', '/services/monitoring/activate', { policyId: policy.id })).status).toBe(400);
    const overview = await api('GET', '/services/monitoring/overview?limit=1');
    expect(overview.body.devices).toHaveLength(1);
    expect(overview.body.devices[0]).toMatchObject({ alias: expect.any(String), hostname: expect.any(String), activatedAtIso: expect.any(String) });
    expect(overview.body.next).toEqual(expect.any(String));
  });

  it('alerts carry the device alias and hostname, and page newest first', async () => {
    const server = await started();
    const agent = track(await enroll(server, await newEnrollmentToken(server), 'kiosk-7'));
    await sendReports(agent, [1, 2, 3].map((seq) => ({ seq, kind: 'alert.raised' as const, at: 1000 * seq, data: { key: `k${seq}`, service: 'monitoring', check: 'cpu', severity: 'critical', message: 'hot' } })));
    const page = await apiOf(server)('GET', '/alerts?limit=2');
    expect(page.body.alerts.map((a: { key: string }) => a.key)).toEqual(['k3', 'k2']);
    expect(page.body.alerts[0]).toMatchObject({ deviceId: agent.deviceId, hostname: 'kiosk-7', alias: 'kiosk-7 alias', open: true, raisedAtIso: new Date(3000).toISOString() });
    expect((await apiOf(server)('GET', `/alerts?limit=2&cursor=${encodeURIComponent(page.body.next)}`)).body.alerts.map((a: { key: string }) => a.key)).toEqual(['k1']);
  });
});

describe('services and commands', () => {
  it('sends patches.scan and patches.install as documented in docs/policies.md', async () => {
    const server = await started();
    const agent = track(await enroll(server, await newEnrollmentToken(server)));
    for (const type of ['patches.scan', 'patches.install'] as const) {
      expect(CONSOLE_COMMANDS).toContain(type);
      const res = await apiOf(server)('POST', `/devices/${agent.deviceId}/commands`, { type });
      expect(res.status).toBe(202);
      expect(res.body).toMatchObject({ type, status: 'sent', createdAtIso: expect.any(String) });
      expect((await agent.next(type)).body).toMatchObject({ deviceId: agent.deviceId, actor: 'acct-owner' });
    }
    expect((await apiOf(server)('POST', `/devices/${agent.deviceId}/commands`, { type: 'key.rotate' })).status).toBe(400);
  });

  it('refuses Endpoint Protection with SERVICE_NOT_SUPPORTED at activation and at policy creation; lists it as not supported', async () => {
    const server = await started();
    const api = apiOf(server);
    const agent = track(await enroll(server, await newEnrollmentToken(server)));
    const policy = await api('POST', '/policies', { name: 'ep', service: 'endpoint-protection', settings: {} });
    expect(policy.status).toBe(400);
    expect(policy.body.error.code).toBe('SERVICE_NOT_SUPPORTED');
    const activate = await api('POST', '/services/endpoint-protection/activate', { deviceIds: [agent.deviceId], policyId: 'pol-any' });
    expect(activate.status).toBe(400);
    expect(activate.body.error.code).toBe('SERVICE_NOT_SUPPORTED');
    expect((await api('GET', '/services')).body.services).toContainEqual({ name: 'endpoint-protection', supported: false, seats: null });
    expect((await api('GET', `/devices/${agent.deviceId}`)).body.services).toEqual([]);
  });
});
