// Signed webhooks for alert raised/cleared, received by a real HTTP listener on loopback: the signature checks out
// with the secret the way docs/server-api.md tells receivers to check it, the payload names the device, and a failed
// delivery is kept for a retry with its error.
import { createHmac, timingSafeEqual } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import type { RunningServer } from '../../src/server/server.js';
import { apiOf, enroll, newEnrollmentToken, sendReports, serverIn, tempDir } from './helpers.js';

interface Received {
  headers: http.IncomingHttpHeaders;
  body: string;
}

const open: Array<{ close(): Promise<void> } | RunningServer> = [];
afterEach(async () => {
  for (const thing of open.splice(0).reverse()) await ('stop' in thing ? thing.stop() : thing.close());
});

async function receiver(statuses: number[]): Promise<{ url: string; received: Received[]; next(): Promise<Received> }> {
  const received: Received[] = [];
  const waiters: Array<() => void> = [];
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      received.push({ headers: req.headers, body });
      res.writeHead(statuses.shift() ?? 200).end('ok');
      for (const w of waiters.splice(0)) w();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  open.push({ close: () => new Promise<void>((resolve) => server.close(() => resolve())) });
  let seen = 0;
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`,
    received,
    next: () =>
      new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error('no webhook delivery within 10 s')), 10_000);
        const look = () => (received.length > seen ? (clearTimeout(timer), resolve(received[seen++]!)) : waiters.push(look));
        look();
      }),
  };
}

/** What a receiver does: recompute the HMAC over "timestamp.body" and compare in constant time. */
function verify(secret: string, r: Received): boolean {
  const expected = Buffer.from(`sha256=${createHmac('sha256', secret).update(`${r.headers['x-rmagent-timestamp']}.${r.body}`).digest('hex')}`);
  const given = Buffer.from(String(r.headers['x-rmagent-signature']));
  return expected.length === given.length && timingSafeEqual(expected, given);
}

describe('alert webhooks', () => {
  it('posts alert.raised and alert.cleared, signed with the secret, naming the device', async () => {
    const server = await serverIn(await tempDir());
    open.push(server);
    const hook = await receiver([]);
    const created = await apiOf(server)('POST', '/webhooks', { url: hook.url });
    expect(created.status).toBe(201);
    expect(created.body.secret).toEqual(expect.any(String));
    expect(JSON.stringify((await apiOf(server)('GET', '/webhooks')).body)).not.toContain(created.body.secret);
    const agent = await enroll(server, await newEnrollmentToken(server), 'till-3');
    open.push(agent);

    await sendReports(agent, [{ seq: 1, kind: 'alert.raised', at: 1000, data: { key: 'disk:/', service: 'monitoring', check: 'disk', severity: 'critical', message: 'disk full' } }]);
    const raised = await hook.next();
    expect(raised.headers['x-rmagent-event']).toBe('alert.raised');
    expect(verify(created.body.secret, raised)).toBe(true);
    expect(verify('another-secret-0123', raised)).toBe(false);
    expect(Math.abs(Number(raised.headers['x-rmagent-timestamp']) - Date.now() / 1000)).toBeLessThan(30);
    const payload = JSON.parse(raised.body);
    expect(payload).toMatchObject({ event: 'alert.raised', id: raised.headers['x-rmagent-delivery'], alert: { deviceId: agent.deviceId, hostname: 'till-3', alias: 'till-3 alias', key: 'disk:/', open: true } });

    await sendReports(agent, [{ seq: 2, kind: 'alert.cleared', at: 2000, data: { key: 'disk:/', service: 'monitoring' } }]);
    const cleared = await hook.next();
    expect(JSON.parse(cleared.body)).toMatchObject({ event: 'alert.cleared', alert: { open: false, clearedAtIso: new Date(2000).toISOString() } });
    // The same alert raised again while open does not notify twice.
    await sendReports(agent, [{ seq: 3, kind: 'alert.raised', at: 3000, data: { key: 'cpu', service: 'monitoring', check: 'cpu', severity: 'warning', message: 'hot', value: 91 } }, { seq: 4, kind: 'alert.raised', at: 3500, data: { key: 'cpu', service: 'monitoring', check: 'cpu', severity: 'warning', message: 'hot', value: 95 } }]);
    await hook.next();
    await new Promise((r) => setTimeout(r, 1500));
    expect(hook.received).toHaveLength(3);
  });

  it('keeps a delivery the receiver refused, with its error, for a later attempt', async () => {
    const server = await serverIn(await tempDir());
    open.push(server);
    const hook = await receiver([500]);
    const created = (await apiOf(server)('POST', '/webhooks', { url: hook.url, events: ['alert.raised'] })).body;
    const agent = await enroll(server, await newEnrollmentToken(server));
    open.push(agent);
    await sendReports(agent, [{ seq: 1, kind: 'alert.raised', at: 1, data: { key: 'k', service: 'monitoring', check: 'cpu', severity: 'info', message: 'm' } }]);
    await hook.next();
    let delivery: { status: string; attempts: number; lastError: string | null; nextAttemptAt: number } | undefined;
    for (let i = 0; i < 100 && !delivery?.attempts; i++) {
      delivery = (await apiOf(server)('GET', `/webhooks/${created.id}/deliveries`)).body.deliveries[0];
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(delivery).toMatchObject({ status: 'pending', attempts: 1, lastError: 'HTTP 500' });
    expect(delivery!.nextAttemptAt).toBeGreaterThan(Date.now() + 5_000);
  });
});
