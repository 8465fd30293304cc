// Reachability probe for `rmagent doctor`: open the agent socket, say agent.hello (with a throwaway key: nothing of
// the device's identity), check that server.hello is signed by the key it presents for this nonce, close.
import WebSocket from 'ws';
import { parseFrame, SERVER_TO_AGENT, type Channel, type Frame } from '../protocol/frames.js';
import { agentHello, channelOf, checkServerHello, newNonce, SUBPROTOCOL } from '../protocol/handshake.js';
import { generateKeyPair } from '../protocol/sign.js';
import { AGENT_VERSION } from '../version.js';
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
    const ws = new WebSocket(url, [SUBPROTOCOL], { ...tlsOptions(config), handshakeTimeout: timeoutMs, maxPayload: config.connection.maxFrameBytes });
    const nonce = newNonce();
    const deviceKey = generateKeyPair().publicKey;
    let channel: Channel = { kind: 'none' };
    ws.on('upgrade', (res) => { channel = channelOf(res.socket); });
    ws.on('open', () => ws.send(JSON.stringify(agentHello(deviceKey, nonce, AGENT_VERSION, Date.now()))));
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
      if (!parsed.ok || parsed.frame.type !== 'server.hello') return finish({ ok: false, latencyMs: null, serverKey: null, error: `the server did not answer with a protocol v2 server.hello${parsed.ok && parsed.frame.type === 'error' ? ` (${parsed.frame.body.code}: ${parsed.frame.body.message})` : ''}` });
      const hello = parsed.frame as Frame<'server.hello'>;
      const verdict = checkServerHello(hello, { agentNonce: nonce, deviceKey, channel, pinned: [], enrolled: false, requireChannelBinding: false });
      if (!verdict.ok) return finish({ ok: false, latencyMs: null, serverKey: hello.body.serverKey, error: verdict.message });
      finish({ ok: true, latencyMs: Date.now() - started, serverKey: hello.body.serverKey, error: null });
    });
    ws.on('error', (err) => finish({ ok: false, latencyMs: null, serverKey: null, error: err.message }));
  });
}
