import { describe, expect, it } from 'vitest';
import { normaliseServerUrl, planRegistration, validateServerKey, type ExistingRegistration } from '../../src/agent/identity.js';
import { generateKeyPair } from '../../src/protocol/sign.js';

const args = { machineId: 'm1', serverUrl: 'https://rm.example.com', token: 'tok-12345678', now: 1000 };
const first = planRegistration({ status: 'missing' }, args, generateKeyPair);
const existing = (over: Partial<typeof first.record> = {}, keyMatches = true): ExistingRegistration => ({ status: 'ok', value: { ...first.record, ...over }, keyMatches });
const codeOf = (f: () => unknown) => {
  try {
    f();
  } catch (err) {
    return (err as { code?: string }).code;
  }
  return 'no error';
};

describe('normaliseServerUrl', () => {
  it('maps http(s) to ws(s) and an empty path to /agent', () => {
    expect(normaliseServerUrl('https://rm.example.com')).toBe('wss://rm.example.com/agent');
    expect(normaliseServerUrl('http://127.0.0.1:8080/')).toBe('ws://127.0.0.1:8080/agent');
    expect(normaliseServerUrl('wss://rm.example.com/custom/path?x=1')).toBe('wss://rm.example.com/custom/path?x=1');
  });
  it('refuses other schemes, credentials and non-URLs with CLI_USAGE', () => {
    for (const bad of ['ftp://x', 'file:///etc/passwd', 'rm.example.com', 'wss://user:pw@rm.example.com']) expect(codeOf(() => normaliseServerUrl(bad)), bad).toBe('CLI_USAGE');
  });
});

describe('validateServerKey', () => {
  it('accepts base64 of 32 bytes only', () => {
    const key = generateKeyPair().publicKey;
    expect(validateServerKey(key)).toBe(key);
    expect(codeOf(() => validateServerKey(Buffer.alloc(31).toString('base64')))).toBe('CLI_USAGE');
    expect(codeOf(() => validateServerKey('not base64!!'))).toBe('CLI_USAGE');
  });
});

describe('planRegistration', () => {
  it('registers a new device with a key, the token and the normalised URL', () => {
    expect(first.changed).toBe(true);
    expect(first.newKey?.publicKey).toBe(first.record.publicKey);
    expect(first.record).toMatchObject({ serverUrl: 'wss://rm.example.com/agent', enrollmentToken: 'tok-12345678', deviceId: null, serverKeys: [], cloned: false });
  });

  it('same arguments again: no change, no new key', () => {
    const again = planRegistration(existing(), args, generateKeyPair);
    expect(again).toMatchObject({ changed: false, newKey: null });
    // also after enrollment dropped the token from the record
    const enrolled = planRegistration(existing({ deviceId: 'dev-1', enrollmentToken: null, enrolledAt: 5 }), args, generateKeyPair);
    expect(enrolled.changed).toBe(false);
  });

  it('another server: REGISTERED_ELSEWHERE without force, a fresh identity with force', () => {
    const other = { ...args, serverUrl: 'wss://other.example.com' };
    expect(codeOf(() => planRegistration(existing(), other, generateKeyPair))).toBe('REGISTERED_ELSEWHERE');
    const forced = planRegistration(existing({ deviceId: 'dev-1' }), { ...other, force: true }, generateKeyPair);
    expect(forced.changed).toBe(true);
    expect(forced.record).toMatchObject({ serverUrl: 'wss://other.example.com/agent', deviceId: null });
    expect(forced.record.publicKey).not.toBe(first.record.publicKey);
  });

  it('a new token for the same server is recorded; with force an enrolled device enrolls again', () => {
    const token = { ...args, token: 'tok-new-9999' };
    expect(planRegistration(existing(), token, generateKeyPair).record.enrollmentToken).toBe('tok-new-9999');
    const enrolled = existing({ deviceId: 'dev-1', enrollmentToken: null });
    const unforced = planRegistration(enrolled, token, generateKeyPair);
    expect(unforced.record.deviceId).toBe('dev-1');
    expect(unforced.notes.join(' ')).toContain('--force');
    expect(planRegistration(enrolled, { ...token, force: true }, generateKeyPair).record).toMatchObject({ deviceId: null, enrollmentToken: 'tok-new-9999' });
  });

  it('pins a given server key and updates alias and assignment id', () => {
    const key = generateKeyPair().publicKey;
    const plan = planRegistration(existing(), { ...args, serverKey: key, alias: 'laptop', assignmentId: '0001CoABC' }, generateKeyPair);
    expect(plan.record).toMatchObject({ serverKeys: [key], alias: 'laptop', assignmentId: '0001CoABC' });
  });

  it('a corrupt record needs --force; a changed machine id gets a new identity flagged as cloned', () => {
    expect(codeOf(() => planRegistration({ status: 'invalid', reason: 'not JSON' }, args, generateKeyPair))).toBe('REGISTRATION_CORRUPT');
    expect(planRegistration({ status: 'invalid', reason: 'x' }, { ...args, force: true }, generateKeyPair).changed).toBe(true);
    const cloned = planRegistration(existing({ machineId: 'other', deviceId: 'dev-1' }), args, generateKeyPair);
    expect(cloned.record).toMatchObject({ machineId: 'm1', deviceId: null, cloned: true });
  });

  it('refuses a token that is too short or has spaces', () => {
    expect(codeOf(() => planRegistration({ status: 'missing' }, { ...args, token: 'short' }, generateKeyPair))).toBe('CLI_USAGE');
    expect(codeOf(() => planRegistration({ status: 'missing' }, { ...args, token: 'has a space in it' }, generateKeyPair))).toBe('CLI_USAGE');
  });
});
