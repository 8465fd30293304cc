// The heavy hostile-input run (npm run test:faults): the same properties as test/security, hundreds of
// thousands of inputs in total, each area bounded in count (and so in time). Prints the figures that
// docs/security.md quotes.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { DEFAULT_MAX_FRAME_BYTES } from '../../src/protocol/frames.js';
import { createTally, heapMb, prototypeIsClean } from '../security/hostile.js';
import { runProtocolProperties } from '../security/protocol-props.js';
import { runConfigProperties } from '../security/config-props.js';
import { runParserProperties, slowest } from '../security/parsers-props.js';
import { runIpcProperties } from '../security/ipc-props.js';
import { runGatewayProperties } from '../security/gateway-props.js';
import { runAgentConnectionProperties } from '../security/agent-connection-props.js';
import { apiOf, serverIn, tempDir } from '../server/helpers.js';

const tally = createTally('faults: hostile input');
const timings: Record<string, number> = {};
const memory: Record<string, string> = {};
const dir = mkdtempSync(path.join(tmpdir(), 'rm-faults-'));

async function area(name: string, run: () => unknown, heapBoundMb: number): Promise<void> {
  const before = heapMb();
  const start = Date.now();
  await run();
  timings[name] = Math.round((Date.now() - start) / 1000);
  const grew = heapMb() - before;
  memory[name] = `${grew.toFixed(0)} MB`;
  console.log(`[faults] ${name}: ${timings[name]} s, heap +${memory[name]}, inputs so far ${tally.total()}`);
  expect(prototypeIsClean()).toBe(true);
  expect(grew, `${name}: heap growth`).toBeLessThan(heapBoundMb);
}

afterAll(() => {
  tally.print();
  console.log(`seconds per area: ${JSON.stringify(timings)}`);
  console.log(`heap growth per area: ${JSON.stringify(memory)}`);
  console.log(`slowest parser call (ms): ${JSON.stringify(Object.fromEntries([...slowest].map(([k, v]) => [k, Math.round(v)])))}`);
});

describe('hostile input, heavy run', () => {
  it('protocol: parseFrame / encodeFrame / checkCommand', () => area('protocol', () => runProtocolProperties(40_000, tally), 300));
  it('config loader: files and environment', () => area('config', () => runConfigProperties(5_000, tally, dir), 300));
  it('parsers, restore paths, globs, policy schemas', () => area('parsers', () => runParserProperties(1_500, tally), 400));
  it('IPC endpoint', () => area('ipc', () => runIpcProperties(5_000, tally, path.join(dir, 'ipc.sock'), { floodConnections: 1_000, hugeBytes: 32 * 1024 * 1024 }), 300));
  it('gateway', () => area('gateway', async () => {
    // 900 idle sockets: below the per-address connection cap (1,000), as all come from 127.0.0.1.
    const { frames } = await runGatewayProperties(600, tally, { floodFrames: 20_000, sockets: 900 });
    console.log(`gateway frames sent: ${frames}`);
  }, 500));

  it('agent connection against a rogue server', () => area('agent connection', () => runAgentConnectionProperties(500, tally), 400));

  // Before any handshake, one socket sends large frames as fast as it can: server memory stays bounded
  // (inbox capped) and the server keeps serving.
  it('gateway: unauthenticated flood of 1 MB frames', async () => {
    const server = await serverIn(await tempDir(), 30);
    const rssBefore = process.memoryUsage().rss;
    let peak = rssBefore;
    const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 20);
    try {
      const ws = new WebSocket(server.agentUrl);
      await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
      const closed = new Promise<number>((resolve) => ws.once('close', (code) => resolve(code)));
      const answers: string[] = [];
      ws.on('message', (raw) => answers.push((JSON.parse(raw.toString()) as { type: string; body: { code?: string } }).body.code ?? (JSON.parse(raw.toString()) as { type: string }).type));
      const frame = JSON.stringify({ v: 2, id: 'm-1', type: 'report', ts: 1, body: { pad: 'x'.repeat(DEFAULT_MAX_FRAME_BYTES - 200) } });
      let sent = 0;
      for (; sent < 2_000 && ws.readyState === WebSocket.OPEN; sent++) {
        ws.send(frame);
        if (ws.bufferedAmount > 64 * 1024 * 1024) await new Promise((r) => setTimeout(r, 5));
      }
      ws.close();
      const code = await Promise.race([closed, new Promise((r) => setTimeout(r, 30_000))]);
      const byCode = answers.reduce<Record<string, number>>((acc, c) => ({ ...acc, [c]: (acc[c] ?? 0) + 1 }), {});
      console.log(`1 MB flood: ${sent} frames sent, close code ${String(code)}, answers ${JSON.stringify(byCode)}`);
      tally.add('gateway: unauthenticated 1 MB frames', sent);
      const res = await apiOf(server)('GET', '/devices');
      expect(res.status).toBe(200);
      const peakMb = (peak - rssBefore) / (1024 * 1024);
      memory['gateway 1 MB flood (rss peak)'] = `${peakMb.toFixed(0)} MB for ${sent} frames`;
      expect(peakMb).toBeLessThan(1_500);
    } finally {
      clearInterval(sampler);
      await server.stop();
    }
  });
});
