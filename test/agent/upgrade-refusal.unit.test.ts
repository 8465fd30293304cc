import { describe, expect, it } from 'vitest';
import { decideUpgradeRefusal, retryAfterMs } from '../../src/agent/upgrade-refusal.js';

describe('an HTTP answer to the WebSocket upgrade', () => {
  it('429 and 503 are the overload answer: a clear message and the Retry-After to wait', () => {
    expect(decideUpgradeRefusal(429, { 'retry-after': '45' }, 0)).toEqual({ code: 'SERVER_UNREACHABLE', message: 'the server refused the connection: this address holds or opens too many connections (HTTP 429); it asked to retry after 45 s', retryAfterMs: 45_000 });
    expect(decideUpgradeRefusal(503, { 'retry-after': 'Thu, 01 Jan 1970 00:00:30 GMT' }, 10_000)).toMatchObject({ message: expect.stringContaining('overloaded, full or stopping (HTTP 503)'), retryAfterMs: 20_000 });
    expect(decideUpgradeRefusal(503, {}, 0)).not.toHaveProperty('retryAfterMs');
  });

  it('any other status names itself; a Retry-After that is not understood is ignored', () => {
    expect(decideUpgradeRefusal(404, {}, 0).message).toContain('HTTP 404 instead of switching to WebSocket');
    expect(retryAfterMs('soon', 0)).toBeUndefined();
    expect(retryAfterMs('-5', 0)).toBeUndefined();
    expect(retryAfterMs(undefined, 0)).toBeUndefined();
    expect(retryAfterMs('Thu, 01 Jan 1970 00:00:01 GMT', 5_000)).toBe(0);
  });
});
