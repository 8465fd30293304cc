// The web console's trust boundaries, attacked over real HTTP on loopback: the licence e-mail and account
// verification, CSRF on cookie sessions, session fixation, sign-out, brute-force limits, seat overruns and
// permission checks. Each attack test fails without its defence (sessions.ts, sign-in.ts, access.ts).
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { afterEach, describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/log.js';
import { startServer, type RunningServer } from '../../src/server/server.js';
import { SQLITE_FILE } from '../../src/server/store/sqlite.js';
import { fixedClock } from '../../src/system/clock.js';
import { browserOf, droppedMail, fragment } from '../server/console-client.js';
import { apiOf, sampleFacts, tempDir } from '../server/helpers.js';

const PASSWORD = 'correct horse battery';
const running: RunningServer[] = [];
afterEach(async () => {
  for (const s of running.splice(0)) await s.stop();
});

async function consoleServer() {
  const dir = await tempDir();
  const clock = fixedClock(Date.UTC(2026, 0, 5, 9));
  const server = await startServer({ host: '127.0.0.1', port: 0, dataDir: dir, logger: silentLogger(), clock, validateResponses: true });
  running.push(server);
  return { dir, clock, server, owner: apiOf(server) };
}
type Ctx = Awaited<ReturnType<typeof consoleServer>>;

async function lastMail(dir: string) {
  const mail = await droppedMail(dir);
  return mail.at(-1)!;
}

/** The seed's option B: the buyer creates an account from the licence e-mail, verifies it, activates. */
async function buyerActivates({ dir, server, owner }: Ctx, product = 'monitoring', seats = 25, email = 'buyer@example.com') {
  const issued = await owner('POST', '/licences', { product, seats, email });
  expect(issued.status).toBe(201);
  const key = fragment((await lastMail(dir)).links[0]!, 'key');
  const browser = browserOf(server);
  expect((await browser.call('POST', '/signup', { key, email, name: 'IT admin', password: PASSWORD, acceptTerms: true })).status).toBe(202);
  const verify = fragment((await lastMail(dir)).links[0]!, 'verify');
  expect((await browser.call('POST', '/verify-email', { token: verify })).status).toBe(200);
  expect((await browser.call('POST', '/licences/activate', { key })).status).toBe(200);
  return { browser, key, licenceId: issued.body.id as string };
}

/** A member invited by the admin, signed in with the password chosen on the invitation page. */
async function invitedMember({ dir, server, owner }: Ctx, email: string, roleIds: string[]) {
  const created = await owner('POST', '/accounts', { name: email, email, roleIds });
  expect(created.status).toBe(201);
  const browser = browserOf(server);
  const token = fragment((await lastMail(dir)).links[0]!, 'token');
  expect((await browser.call('POST', '/verify-email', { token, password: PASSWORD })).status).toBe(200);
  return { browser, accountId: created.body.id as string };
}

describe('licence activation (the seed\'s steps 1-3)', () => {
  it('e-mails the link, creates an account that must verify its e-mail, activates once, and makes the buyer an administrator', async () => {
    const ctx = await consoleServer();
    const issued = await ctx.owner('POST', '/licences', { product: 'monitoring', seats: 25, email: 'Buyer@Example.com' });
    expect(issued.body).toMatchObject({ product: 'monitoring', seats: 25, email: 'buyer@example.com', activated: false });
    const mail = await lastMail(ctx.dir);
    expect(mail).toMatchObject({ to: 'buyer@example.com', subject: expect.stringContaining('Monitoring licence (25 device seats)') });
    expect(mail.text).toContain('each licence is activated on its own');
    expect(mail.text).toContain('generic account');
    const link = mail.links[0]!;
    expect(new URL(link).search).toBe(''); // the key rides in the fragment: never sent to a server or logged
    const key = fragment(link, 'key');
    expect(await readFile(path.join(ctx.dir, SQLITE_FILE)).then((b) => b.includes(Buffer.from(key)))).toBe(false);

    const browser = browserOf(ctx.server);
    expect((await browser.call('POST', '/licences/lookup', { key })).body).toMatchObject({ title: 'Monitoring', seats: 25, activated: false, tip: expect.stringContaining('generic account') });
    expect((await browser.call('POST', '/signup', { key, email: 'buyer@example.com', name: 'IT admin', password: PASSWORD, acceptTerms: false })).status).toBe(400);
    expect((await browser.call('POST', '/signup', { key: 'rml_not-a-key', email: 'x@example.com', name: 'x', password: PASSWORD, acceptTerms: true })).body.error.code).toBe('LINK_INVALID');
    expect((await browser.call('POST', '/signup', { key, email: 'buyer@example.com', name: 'IT admin', password: PASSWORD, acceptTerms: true })).status).toBe(202);
    expect((await browser.signIn('buyer@example.com', PASSWORD)).body.error.code).toBe('EMAIL_NOT_VERIFIED');

    const verifyLink = (await lastMail(ctx.dir)).links[0]!;
    expect(fragment(verifyLink, 'key')).toBe(key);
    const verified = await browser.call('POST', '/verify-email', { token: fragment(verifyLink, 'verify') });
    expect(verified.status).toBe(200);
    expect(verified.setCookie[0]).toMatch(/^rmagent_session=[\w-]+; Path=\/; HttpOnly; SameSite=Strict; Max-Age=\d+$/);
    expect(verified.body.permissions).not.toContain('assign_policies');
    expect((await browser.call('POST', '/verify-email', { token: fragment(verifyLink, 'verify') }, { cookie: null })).body.error.code).toBe('LINK_INVALID');

    const activated = await browser.call('POST', '/licences/activate', { key });
    expect(activated.body).toMatchObject({ activated: true, activatedBy: verified.body.account.id });
    expect((await browser.call('GET', '/session')).body.permissions).toEqual(expect.arrayContaining(['assign_policies', 'manage_accounts']));
    expect((await browser.call('POST', '/licences/activate', { key })).body.error.code).toBe('LICENCE_ACTIVATED');
    expect((await browser.call('POST', '/signup', { key, email: 'late@example.com', name: 'late', password: PASSWORD, acceptTerms: true })).body.error.code).toBe('LICENCE_ACTIVATED');

    // The password is kept as a memory-hard hash only.
    const db = new DatabaseSync(path.join(ctx.dir, SQLITE_FILE), { readOnly: true });
    const row = db.prepare('SELECT password_hash FROM logins WHERE email = ?').get('buyer@example.com') as { password_hash: string };
    db.close();
    expect(row.password_hash).toMatch(/^scrypt\$32768\$8\$1\$/);
    expect(row.password_hash).not.toContain(PASSWORD);
  });

  it('option A: an existing account signs in and activates a second product\'s licence; the e-mail taken is refused for a new account', async () => {
    const ctx = await consoleServer();
    await buyerActivates(ctx);
    ctx.clock.advance(1000);
    await ctx.owner('POST', '/licences', { product: 'patches', seats: 5, email: 'buyer@example.com' });
    const key = fragment((await lastMail(ctx.dir)).links[0]!, 'key');
    const browser = browserOf(ctx.server);
    expect((await browser.call('POST', '/signup', { key, email: 'buyer@example.com', name: 'again', password: PASSWORD, acceptTerms: true })).body.error.code).toBe('EMAIL_TAKEN');
    expect((await browser.signIn('buyer@example.com', PASSWORD)).status).toBe(200);
    expect((await browser.call('POST', '/licences/activate', { key })).body).toMatchObject({ product: 'patches', activated: true });
    const list = await browser.call('GET', '/licences');
    expect(list.body.licences.map((l: { product: string; activated: boolean }) => [l.product, l.activated])).toEqual([['patches', true], ['monitoring', true]]);
  });
});

describe('console sessions under attack', () => {
  it('CSRF: a change made with the cookie needs the session\'s token and this server\'s origin; API tokens need neither', async () => {
    const ctx = await consoleServer();
    const { browser } = await buyerActivates(ctx);
    const body = { expiresInSec: 3600, maxUses: 1 };
    expect((await browser.call('POST', '/enrollment-tokens', body, { csrf: null })).body.error).toMatchObject({ code: 'API_CSRF', message: expect.stringContaining('X-CSRF-Token header missing') });
    expect((await browser.call('POST', '/enrollment-tokens', body, { csrf: 'csrf_guessed-value-of-the-same-length-xx' })).body.error.code).toBe('API_CSRF');
    expect((await browser.call('POST', '/enrollment-tokens', body, { origin: 'http://evil.example' })).body.error.code).toBe('API_CSRF');
    // Login CSRF: another site cannot sign the browser in to the attacker's account either.
    expect((await browserOf(ctx.server).call('POST', '/session', { email: 'buyer@example.com', password: PASSWORD }, { origin: 'http://evil.example' })).body.error.code).toBe('API_CSRF');
    expect((await ctx.owner('GET', '/enrollment-tokens')).body.tokens).toHaveLength(0);
    expect((await browser.call('POST', '/enrollment-tokens', body)).status).toBe(201);
    expect((await ctx.owner('POST', '/enrollment-tokens', body)).status).toBe(201);
  });

  it('session fixation: a cookie planted before sign-in never becomes the victim\'s session', async () => {
    const ctx = await consoleServer();
    await buyerActivates(ctx);
    await invitedMember(ctx, 'attacker@example.com', ['role-user']);
    const attacker = browserOf(ctx.server);
    expect((await attacker.signIn('attacker@example.com', PASSWORD)).status).toBe(200);
    const planted = attacker.jar.cookie!;
    const victim = browserOf(ctx.server);
    const signedIn = await victim.call('POST', '/session', { email: 'buyer@example.com', password: PASSWORD }, { cookie: planted });
    expect(signedIn.status).toBe(200);
    expect(victim.jar.cookie).not.toBe(planted);
    expect((await attacker.call('GET', '/session')).status).toBe(401);
    expect((await victim.call('GET', '/session')).body.account.email).toBe('buyer@example.com');
  });

  it('sign-out ends the session on the server (a copied cookie stops working) and a disabled account\'s session is refused', async () => {
    const ctx = await consoleServer();
    const { browser } = await buyerActivates(ctx);
    const copied = browser.jar.cookie!;
    const out = await browser.call('DELETE', '/session');
    expect(out.body).toEqual({ signedOut: true });
    expect(out.setCookie[0]).toContain('Max-Age=0');
    expect((await browser.call('GET', '/session', undefined, { cookie: copied })).status).toBe(401);

    const member = await invitedMember(ctx, 'member@example.com', ['role-user']);
    await ctx.owner('PATCH', `/accounts/${member.accountId}`, { disabled: true });
    expect((await member.browser.call('GET', '/session')).body.error.code).toBe('API_ACCOUNT_DISABLED');
  });

  it('brute force on one account: 5 wrong passwords lock its sign-in, even the right password, for 15 minutes', async () => {
    const ctx = await consoleServer();
    await buyerActivates(ctx);
    const guesser = browserOf(ctx.server);
    for (let i = 0; i < 5; i++) expect((await guesser.signIn('buyer@example.com', `wrong password ${i}`)).body.error.code).toBe('SIGN_IN_FAILED');
    const locked = await guesser.signIn('buyer@example.com', PASSWORD);
    expect(locked.status).toBe(429);
    expect(locked.body.error.code).toBe('SIGN_IN_LOCKED');
    expect(Number(locked.headers.get('retry-after'))).toBe(900);
    ctx.clock.advance(15 * 60_000);
    expect((await guesser.signIn('buyer@example.com', PASSWORD)).status).toBe(200);
    // An unknown e-mail answers like a wrong password.
    expect((await guesser.signIn('nobody@example.com', PASSWORD)).body.error).toMatchObject({ code: 'SIGN_IN_FAILED', message: 'Wrong e-mail or password' });
  });

  it('brute force from one address: after 20 attempts over any accounts, it waits (429 with Retry-After)', async () => {
    const ctx = await consoleServer();
    const guesser = browserOf(ctx.server);
    const codes: string[] = [];
    for (let i = 0; i < 21; i++) codes.push((await guesser.signIn(`user${i}@example.com`, 'guess guess guess')).body.error.code);
    expect(codes.slice(0, 20)).toEqual(Array(20).fill('SIGN_IN_FAILED'));
    expect(codes[20]).toBe('API_RATE_LIMITED');
    const again = await guesser.signIn('user0@example.com', 'guess guess guess');
    expect(Number(again.headers.get('retry-after'))).toBeGreaterThan(0);
    ctx.clock.advance(6_000);
    expect((await guesser.signIn('user0@example.com', 'guess guess guess')).body.error.code).toBe('SIGN_IN_FAILED');
  });
});

describe('seats and permissions', () => {
  async function devices(server: RunningServer, n: number): Promise<string[]> {
    const ids = Array.from({ length: n }, (_, i) => `dev-seat-${i}`);
    for (const id of ids) await server.store.devices.insert({ id, publicKey: 'k', facts: sampleFacts(id), enrolledAt: 1, enrolledWith: null, lastSeen: null, lastSeq: 0, revision: 1, tags: [], revokedAt: null, revokedBy: null });
    return ids;
  }

  it('seat overrun: activating a service on more devices than the licences\' free seats is refused as a whole, saying how many are free', async () => {
    const ctx = await consoleServer();
    const { browser } = await buyerActivates(ctx, 'monitoring', 2);
    const ids = await devices(ctx.server, 3);
    const policy = await browser.call('POST', '/policies', { name: 'm', service: 'monitoring', settings: {} });
    expect(policy.status).toBe(201);
    const over = await browser.call('POST', '/services/monitoring/activate', { deviceIds: ids, policyId: policy.body.id });
    expect(over.status).toBe(409);
    expect(over.body.error).toMatchObject({ code: 'LICENCE_SEATS_EXCEEDED', message: expect.stringContaining('3 device(s) need a seat, 2 of 2 seat(s) free'), seats: { total: 2, used: 0, needed: 3 } });
    expect((await browser.call('GET', '/services/monitoring/overview')).body.devices).toHaveLength(0);
    expect((await browser.call('POST', '/services/monitoring/activate', { deviceIds: ids.slice(0, 2), policyId: policy.body.id })).status).toBe(200);
    expect((await browser.call('POST', '/services/monitoring/activate', { deviceIds: ids.slice(0, 2), policyId: policy.body.id })).status).toBe(200); // same devices: no new seat
    expect((await browser.call('POST', '/services/monitoring/activate', { deviceIds: [ids[2]], policyId: policy.body.id })).body.error.code).toBe('LICENCE_SEATS_EXCEEDED');
    const services = (await browser.call('GET', '/services')).body.services as Array<{ name: string; seats: unknown }>;
    expect(services.find((s) => s.name === 'monitoring')!.seats).toEqual({ total: 2, used: 2, free: 0 });
    // A product without a licence has no seats once the server is licensed.
    const backup = await browser.call('POST', '/policies', { name: 'b', service: 'backup', settings: { paths: ['/srv'] } });
    if (backup.status === 201) expect((await browser.call('POST', '/services/backup/activate', { deviceIds: [ids[0]], policyId: backup.body.id })).body.error.code).toBe('LICENCE_SEATS_EXCEEDED');
  });

  it('a member with the plain user role may sign in but not assign services, issue licences or manage accounts', async () => {
    const ctx = await consoleServer();
    await buyerActivates(ctx);
    const ids = await devices(ctx.server, 1);
    const policy = await ctx.owner('POST', '/policies', { name: 'm', service: 'monitoring', settings: {} });
    const { browser } = await invitedMember(ctx, 'user@example.com', ['role-user']);
    expect((await browser.call('GET', '/session')).body.permissions).toEqual([]);
    const refused = await browser.call('POST', '/services/monitoring/activate', { deviceIds: ids, policyId: policy.body.id });
    expect(refused.body.error).toMatchObject({ code: 'API_FORBIDDEN', permission: 'assign_policies' });
    expect((await browser.call('POST', '/licences', { product: 'backup', seats: 1, email: 'x@example.com' })).body.error.permission).toBe('manage_accounts');
    expect((await browser.call('POST', '/accounts', { name: 'x' })).body.error.permission).toBe('manage_accounts');
    // An invitation link sets the password once; without one it is refused.
    const created = await ctx.owner('POST', '/accounts', { name: 'late', email: 'late@example.com', roleIds: [] });
    const token = fragment((await lastMail(ctx.dir)).links[0]!, 'token');
    expect((await browserOf(ctx.server).call('POST', '/verify-email', { token })).body.error.code).toBe('API_INVALID');
    expect(created.body.invited).toBe('late@example.com');
  });
});
