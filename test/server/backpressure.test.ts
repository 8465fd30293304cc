// Attack on the gateway's inbox bound: behind a store that answers slowly (as a database across the network does),
// one device floods 1 MB reports. The gateway stops reading its socket once 4 MiB wait unhandled, so what it holds
// stays bounded however fast the device sends; without the bound it reads everything the device sends.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/log.js';
import { generateKeyPair } from '../../src/protocol/sign.js';
import { systemClock } from '../../src/system/clock.js';
import { createGateway, type Gateway } from '../../src/server/gateway.js';
import type { Intake, IntakeJob } from '../../src/server/intake.js';
import { hashSecret } from '../../src/server/secrets.js';
import { createCommandSigner } from '../../src/server/signer.js';
import { createSqliteStore } from '../../src/server/store/sqlite.js';
import { connectAgent, tempDir, type TestAgent } from './helpers.js';

const MB = 1024 * 1024;
const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** An intake whose every commit takes `delayMs`, like a database at the other end of a network. */
function slowIntake(delayMs: number): Intake {
  const lastSeq = new Map<string, number>();
  return {
    async submit(job: IntakeJob) {
      await new Promise((r) => setTimeout(r, delayMs));
      const seq = Math.max(lastSeq.get(job.deviceId) ?? 0, ...job.reports.map((r) => r.seq));
      lastSeq.set(job.deviceId, seq);
      return { revoked: false, lastSeq: seq, stored: job.reports.length, duplicates: 0 };
    },
    drain: async () => undefined,
  };
}

async function gatewayBehind(intake: Intake): Promise<{ gateway: Gateway; agentUrl: string; token: string }> {
  const store = createSqliteStore({ dataDir: await tempDir(), logger: silentLogger() });
  await store.open();
  const token = 'enr_backpressure-test-token';
  await store.enrollmentTokens.insert({ id: 'enr-1', tokenHash: hashSecret(token), label: null, expiresAt: null, maxUses: null, uses: 0, tags: [], createdBy: 'test', createdAt: 0, revokedAt: null, revokedBy: null });
  const httpServer = http.createServer();
  const gateway = createGateway({
    httpServer, store, signer: createCommandSigner(generateKeyPair()), clock: systemClock, logger: silentLogger(), heartbeatSec: 30, intake,
    // No rate limit here: only the inbox bound stands between the device and the server's memory.
    deviceLimits: { bytes: { perSec: 1e12, burst: 1e12 }, frames: { perSec: 1e9, burst: 1e9 }, inboxBytes: 4 * MB },
    onOnline: async () => undefined,
  });
  gateway.start();
  await new Promise<void>((resolve) => httpServer.listen(0, '127.0.0.1', resolve));
  cleanups.push(async () => {
    await gateway.stop({ budgetMs: 500 });
    httpServer.closeAllConnections();
    await new Promise((r) => httpServer.close(r));
    await store.close();
  });
  return { gateway, agentUrl: `ws://127.0.0.1:${(httpServer.address() as AddressInfo).port}/agent`, token };
}

describe('gateway inbox bound', () => {
  it('holds at most ~4 MiB of one flooding device\'s unhandled frames behind a slow store, and acknowledges what it stored', async () => {
    const { gateway, agentUrl, token } = await gatewayBehind(slowIntake(250));
    const agent: TestAgent = await connectAgent(agentUrl);
    cleanups.push(() => agent.close());
    await agent.sendEnroll(token);
    await agent.next('welcome');

    const pad = 'x'.repeat(1_000_000);
    let peak = 0;
    let sawPaused = false;
    // Sampled during the flood: once the sender stops, the store catches up and the socket is resumed.
    const sampler = setInterval(() => {
      const load = gateway.load();
      peak = Math.max(peak, load.inboxBytes);
      sawPaused ||= load.paused === 1;
    }, 2);
    const started = Date.now();
    let seq = 0;
    while (Date.now() - started < 3_000 && seq < 300) {
      while (agent.ws.bufferedAmount > 64 * MB) await new Promise((r) => setTimeout(r, 2));
      seq += 1;
      agent.ws.send(`{"v":2,"id":"f-${seq}","type":"report","ts":${Date.now()},"body":{"seq":${seq},"kind":"inventory","at":1,"data":{"blob":"${pad}"}}}`);
      if (seq % 8 === 0) await new Promise((r) => setImmediate(r));
    }
    await new Promise((r) => setTimeout(r, 500));
    clearInterval(sampler);
    expect(peak).toBeGreaterThan(2 * MB); // the flood did reach the gateway...
    expect(peak).toBeLessThan(4 * MB + 3 * 1_000_100); // ...but never more than the bound and the frames in flight
    expect(sawPaused).toBe(true); // the socket was paused rather than read without bound
    const acked = (await agent.next('report.ack', 5_000)).body.upTo;
    expect(acked).toBeGreaterThan(0);
    console.log(`inbox bound: sent ${seq} × 1 MB in 3 s, gateway peak inbox ${(peak / MB).toFixed(1)} MiB, acknowledged up to ${acked}`);
  }, 30_000);
});
