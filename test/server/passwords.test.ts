// Console passwords: scrypt with its parameters in the stored form, constant-time checks, malformed hashes never match.
import { describe, expect, it } from 'vitest';
import { hashPassword, SCRYPT, verifyNothing, verifyPassword } from '../../src/server/passwords.js';

describe('password hashing', () => {
  it('hashes with a fresh salt and the stated parameters, verifies the right password only', async () => {
    const started = performance.now();
    const a = await hashPassword('correct horse battery');
    const took = performance.now() - started;
    const b = await hashPassword('correct horse battery');
    expect(a).toMatch(new RegExp(`^scrypt\\$${SCRYPT.N}\\$${SCRYPT.r}\\$${SCRYPT.p}\\$[A-Za-z0-9+/=]{24}\\$[A-Za-z0-9+/=]{44}$`));
    expect(a).not.toBe(b);
    expect(await verifyPassword('correct horse battery', a)).toBe(true);
    expect(await verifyPassword('correct horse batterz', a)).toBe(false);
    expect(await verifyNothing('anything')).toBe(false);
    console.log(`scrypt N=${SCRYPT.N} r=${SCRYPT.r} p=${SCRYPT.p}: one hash took ${took.toFixed(0)} ms here`);
  });

  it('never matches an empty (invited, no password yet) or malformed or absurdly costly stored hash', async () => {
    for (const stored of ['', 'scrypt$x', 'bcrypt$1$2$3$4$5', `scrypt$${2 ** 24}$8$1$c2FsdA==$a2V5`, 'scrypt$32768$8$1$c2FsdA==$']) {
      expect(await verifyPassword('whatever password', stored)).toBe(false);
    }
  });
});
