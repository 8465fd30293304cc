// The persisted command queue over real sockets: commands survive a server restart, sent-but-unacknowledged ones are
// sent again on reconnect (same id), taken-but-unfinished ones end as interrupted, a full queue refuses more (never
// trust commands), and every status follows the agent's acks.
import { describe, expect, it } from 'vitest';
import { MAX_PENDING_COMMANDS_PER_DEVICE } from '../../src/server/commands.js';
import type { RunningServer } from '../../src/server/server.js';
import { apiOf, authenticate, enroll, newEnrollmentToken, serverIn, tempDir, stoppedAfterEach } from './helpers.js';

const { track, stopLater } = stoppedAfterEach();

async function statusOf(server: RunningServer, deviceId: string, commandId: string): Promise<{ status: string; reason: { code: string } | null; attempts: number }> {
  const list = await apiOf(server)('GET', `/devices/${deviceId}/commands`);
  return list.body.commands.find((c: { id: string }) => c.id === commandId);
}

async function until<T>(what: string, fn: () => Promise<T | undefined>, ms = 5000): Promise<T> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    const v = await fn();
    if (v !== undefined) return v;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`timed out waiting for ${what}`);
}

describe('command queue', () => {
  it('keeps a command queued for an offline device across a server restart and sends it when the device connects', async () => {
    const dir = await tempDir();
    const first = await serverIn(dir);
    const agent = await enroll(first, await newEnrollmentToken(first));
    await agent.close();
    const queued = await apiOf(first)('POST', `/devices/${agent.deviceId}/commands`, { type: 'inventory.request', body: { full: true } });
    expect(queued.body.status).toBe('queued');
    await first.stop();

    const second = await serverIn(dir);
    stopLater(second);
    const back = track(await authenticate(second, agent.deviceId, agent.keys));
    const command = await back.next('inventory.request');
    expect(command.id).toBe(queued.body.id);
    expect(command.body).toMatchObject({ full: true, deviceId: agent.deviceId });
    back.send('ack', { commandId: command.id, status: 'accepted' });
    back.send('ack', { commandId: command.id, status: 'done' });
    expect(await until('done', async () => ((await statusOf(second, agent.deviceId, command.id)).status === 'done' ? true : undefined))).toBe(true);
  });

  it('sends a sent-but-unacknowledged command again on reconnect, with the same id, and records its outcome', async () => {
    const server = await serverIn(await tempDir());
    stopLater(server);
    const agent = await enroll(server, await newEnrollmentToken(server));
    await agent.next('desired');
    const issued = await apiOf(server)('POST', `/devices/${agent.deviceId}/commands`, { type: 'status.request' });
    expect(issued.body.status).toBe('sent');
    expect((await agent.next('status.request')).id).toBe(issued.body.id);
    await agent.close(); // gone before it acknowledged anything

    const back = track(await authenticate(server, agent.deviceId, agent.keys));
    const again = await back.next('status.request');
    expect(again.id).toBe(issued.body.id);
    back.send('ack', { commandId: again.id, status: 'accepted' });
    back.send('ack', { commandId: again.id, status: 'done' });
    const final = await until('done', async () => {
      const c = await statusOf(server, agent.deviceId, issued.body.id);
      return c.status === 'done' ? c : undefined;
    });
    expect(final.attempts).toBe(2);
  });

  it('ends a command the device had taken as interrupted when the connection dropped before its outcome', async () => {
    const server = await serverIn(await tempDir());
    stopLater(server);
    const agent = await enroll(server, await newEnrollmentToken(server));
    const issued = await apiOf(server)('POST', `/devices/${agent.deviceId}/commands`, { type: 'inventory.request' });
    const frame = await agent.next('inventory.request');
    agent.send('ack', { commandId: frame.id, status: 'accepted' });
    await until('accepted', async () => ((await statusOf(server, agent.deviceId, issued.body.id)).status === 'accepted' ? true : undefined));
    await agent.close(); // the agent restarted mid-command: its "done" never comes

    const back = track(await authenticate(server, agent.deviceId, agent.keys));
    await back.next('desired');
    const c = await until('interrupted', async () => {
      const s = await statusOf(server, agent.deviceId, issued.body.id);
      return s.status === 'interrupted' ? s : undefined;
    });
    expect(c.reason?.code).toBe('COMMAND_INTERRUPTED');
    expect(back.frames.some((f) => f.id === issued.body.id)).toBe(false); // not sent again: the agent took it already
  });

  it('records a redelivered command the agent refuses as already seen (its replay guard) as interrupted', async () => {
    const server = await serverIn(await tempDir());
    stopLater(server);
    const agent = await enroll(server, await newEnrollmentToken(server));
    const issued = await apiOf(server)('POST', `/devices/${agent.deviceId}/commands`, { type: 'status.request' });
    await agent.next('status.request');
    await agent.close(); // took it (the id is in its replay guard) but the "accepted" never left

    const back = track(await authenticate(server, agent.deviceId, agent.keys));
    const again = await back.next('status.request');
    back.send('ack', { commandId: again.id, status: 'rejected', reason: { code: 'COMMAND_REPLAYED', message: 'already seen' } });
    expect(await until('interrupted', async () => ((await statusOf(server, agent.deviceId, issued.body.id)).status === 'interrupted' ? true : undefined))).toBe(true);
  });

  it('refuses more than its bound of pending commands for one device (429), but never a trust command', async () => {
    const server = await serverIn(await tempDir());
    stopLater(server);
    const agent = await enroll(server, await newEnrollmentToken(server));
    await agent.close();
    const now = Date.now();
    await server.store.commands.insert(
      Array.from({ length: MAX_PENDING_COMMANDS_PER_DEVICE }, (_, i) => ({ id: `cmd-fill-${i}`, deviceId: agent.deviceId, type: 'status.request', body: { deviceId: agent.deviceId }, actor: null, createdAt: now, status: 'queued' as const, reason: null, updatedAt: now, attempts: 0 })),
    );
    const refused = await apiOf(server)('POST', `/devices/${agent.deviceId}/commands`, { type: 'status.request' });
    expect(refused.status).toBe(429);
    expect(refused.body.error.code).toBe('COMMAND_QUEUE_FULL');
    expect((await apiOf(server)('POST', '/server-keys/rotate', {})).status).toBe(201);
    const pending = await server.store.commands.pending(agent.deviceId);
    expect(pending.filter((c) => c.type === 'key.rotate')).toHaveLength(1);
  });
});
