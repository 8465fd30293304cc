import { describe, expect, it } from 'vitest';
import { generateKeyPair } from '../../src/protocol/sign.js';
import { findSecrets } from './secrets.js';

describe('findSecrets', () => {
  const pem = generateKeyPair().privateKeyPem;

  it('finds a secret raw, JSON-escaped, URL-encoded, or as one line of a PEM block', () => {
    expect(findSecrets('x enrol-Tok3n/+= y', ['enrol-Tok3n/+='])).toHaveLength(1);
    expect(findSecrets(JSON.stringify({ pem }), [pem])).toHaveLength(2); // the secret and the PEM shape
    expect(findSecrets(`url?x=${encodeURIComponent('a b/c+d')}`, ['a b/c+d'])).toHaveLength(1);
    expect(findSecrets(pem.split('\n')[1]!, [pem])).toEqual([expect.stringMatching(/^secret /)]);
  });

  it('finds forbidden shapes whatever their value, and passes redacted text', () => {
    expect(findSecrets('Authorization: Bearer abcdefgh12345678', [])).toEqual(['bearer header']);
    expect(findSecrets('wss://h/x?token=abcd1234', [])).toEqual(['token/secret/password in a URL or form']);
    expect(findSecrets('Bearer [redacted] wss://h/x?token=[redacted] [redacted private key]', [])).toEqual([]);
  });

  it('never prints the secret it found', () => {
    const secret = 'S3cr3t-value-0123456789';
    expect(findSecrets(secret, [secret]).join()).not.toContain(secret);
  });
});
