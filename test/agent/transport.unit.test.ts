import { describe, expect, it } from 'vitest';
import { checkTransport } from '../../src/agent/transport.js';

describe('checkTransport', () => {
  it('allows wss:// anywhere and ws:// to loopback', () => {
    expect(checkTransport('wss://rm.example.com/agent', { allowInsecure: false })).toEqual({ ok: true, insecure: false });
    for (const url of ['ws://127.0.0.1:8080/agent', 'ws://127.8.9.10/agent', 'ws://localhost:1/agent', 'ws://[::1]:9/agent']) {
      expect(checkTransport(url, { allowInsecure: false }), url).toEqual({ ok: true, insecure: false });
    }
  });

  it('refuses ws:// to another host unless insecure transport is allowed, and then says so', () => {
    const refused = checkTransport('ws://10.0.0.5/agent', { allowInsecure: false });
    expect(refused).toMatchObject({ ok: false, code: 'INSECURE_TRANSPORT' });
    expect(checkTransport('ws://127.0.0.1.evil.example/agent', { allowInsecure: false }).ok).toBe(false);
    expect(checkTransport('ws://10.0.0.5/agent', { allowInsecure: true })).toEqual({ ok: true, insecure: true });
  });

  it('refuses what is not a WebSocket URL', () => {
    expect(checkTransport('http://127.0.0.1/agent', { allowInsecure: true }).ok).toBe(false);
    expect(checkTransport('not a url', { allowInsecure: true }).ok).toBe(false);
  });
});
