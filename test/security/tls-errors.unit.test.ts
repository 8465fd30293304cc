// transportErrorCode: which socket errors the agent reports as TLS problems (fixable by caFile, pin or URL).
import { describe, expect, it } from 'vitest';
import { transportErrorCode } from '../../src/agent/transport.js';

describe('transportErrorCode', () => {
  it('names certificate verification failures TLS_FAILED', () => {
    for (const code of ['UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'DEPTH_ZERO_SELF_SIGNED_CERT', 'SELF_SIGNED_CERT_IN_CHAIN', 'CERT_HAS_EXPIRED', 'ERR_TLS_CERT_ALTNAME_INVALID', 'ERR_SSL_WRONG_VERSION_NUMBER', 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY']) {
      expect(transportErrorCode({ code }), code).toBe('TLS_FAILED');
    }
  });

  it('keeps the pin refusal apart, and network errors as SERVER_UNREACHABLE', () => {
    expect(transportErrorCode({ code: 'TLS_PIN_MISMATCH' })).toBe('TLS_PIN_MISMATCH');
    for (const code of ['ECONNREFUSED', 'ECONNRESET', 'ENOTFOUND', 'ETIMEDOUT', undefined, 42]) expect(transportErrorCode({ code })).toBe('SERVER_UNREACHABLE');
  });
});
