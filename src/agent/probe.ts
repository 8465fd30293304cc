// Reachability probe for `rmagent doctor`: open the agent socket, wait for the server's hello, close.
import WebSocket from 'ws';
import { parseFrame, SERVER_TO_AGENT } from '../protocol/frames.js';
import { checkTransport, tlsOptions } from './transport.js';
import type { Config } from '../config/schema.js';

export interface ProbeResult {
  ok: boolean;
  latencyMs: number | null;
  serverKey: string | null;
  error: string | null;
}

export function probeServer(url: string, config: Config, timeoutMs = 5_000): Promise<ProbeResult> {
  const transport = checkTransport(url, { allowInsecure: config.connection.allowInsecure });
  if (!transport.ok) return Promise.resolve({ ok: false, latencyMs: null, serverKey: null, error: transport.message });
  const started = Date.now();
  return new Promise((resolve) => {
    let done = false;
    const ws = new WebSocket(url, { ...tlsOptions(config), handshakeTimeout: timeoutMs, maxPayload: config.connection.maxFrameBytes });
    const finish = (r: ProbeResult) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      ws.terminate();
      resolve(r);
    };
    const timer = setTimeout(() => finish({ ok: false, latencyMs: null, serverKey: null, error: `no hello within ${timeoutMs} ms` }), timeoutMs);
    ws.on('message', (data) => {
      const parsed = parseFrame(data.toString(), { accept: SERVER_TO_AGENT });
      if (parsed.ok && parsed.frame.type === 'hello') finish({ ok: true, latencyMs: Date.now() - started, serverKey: parsed.frame.body.serverKey, error: null });
      else finish({ ok: false, latencyMs: null, serverKey: null, error: 'the server did not greet with a protocol v1 hello' });
    });
    ws.on('error', (err) => finish({ ok: false, latencyMs: null, serverKey: null, error: err.message }));
  });
}
