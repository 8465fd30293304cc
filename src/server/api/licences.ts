// Licences (the seed's first part): an operator issues a licence per product with a number of device seats and the
// server e-mails its activation link; the link's page signs in an existing account (A) or creates one (B: e-mail,
// name, password, terms), verified through a second e-mailed link, then activates the licence. Each licence is
// activated once; every device a service is activated on uses one seat of that product (services.ts refuses
// beyond). The keys and links are secrets: stored as hashes, carried in the URL fragment (never sent in requests).
import * as z from 'zod/mini';
import { RmError } from '../../protocol/errors.js';
import { ServiceNameSchema, type ServiceName } from '../../protocol/model.js';
import { ANY_ACCOUNT, needs, OWNER_ROLE_ID } from '../access.js';
import { hashPassword, PASSWORD_MAX, PASSWORD_MIN } from '../passwords.js';
import { hashSecret, newId, newSecret } from '../secrets.js';
import type { AccountRecord, LicenceRecord } from '../store/store.js';
import { iso, isoOrNull } from '../views.js';
import type { ApiDeps } from './deps.js';
import { refuseUnsupported } from './policies.js';
import { NextCursor, PageQuery, pageRequest, publicRoute, route, type Route } from './route.js';
import { countAttempt, Email, sessionView, SessionViewSchema, startSession } from './sign-in.js';

export const PRODUCT_TITLES: Record<ServiceName, string> = {
  monitoring: 'Monitoring',
  assets: 'Asset Management',
  patches: 'Patch Management',
  backup: 'Backup',
  'endpoint-protection': 'Endpoint Protection',
};
/** How long the verification link of a new account works. */
export const VERIFY_LINK_MS = 24 * 3_600_000;
export const GENERIC_ACCOUNT_TIP = 'Tip: manage Remote Management with a generic account (for example it-admin@your-company.example) rather than a personal one, so the services stay managed when people change jobs.';

const Key = z.string().check(z.minLength(8), z.maxLength(128));
const LicenceViewSchema = z.object({
  id: z.string(),
  product: ServiceNameSchema,
  title: z.string(),
  seats: z.int(),
  email: z.string(),
  issuedAtIso: z.string(),
  activated: z.boolean(),
  activatedAtIso: z.nullable(z.string()),
  activatedBy: z.nullable(z.string()),
});
const licenceView = (l: LicenceRecord) => ({
  id: l.id, product: l.product as ServiceName, title: PRODUCT_TITLES[l.product as ServiceName] ?? l.product, seats: l.seats, email: l.email,
  issuedAtIso: iso(l.issuedAt), activated: l.activatedAt !== null, activatedAtIso: isoOrNull(l.activatedAt), activatedBy: l.activatedBy,
});
const SeatsSchema = z.object({ product: ServiceNameSchema, total: z.int(), used: z.int(), free: z.int() });

export function licenceRoutes({ store, clock, logger, mailer, publicUrl, signInLimiter }: ApiDeps): Route[] {
  const activationLink = (key: string, verify?: string) => `${publicUrl()}/console/activate#key=${encodeURIComponent(key)}${verify ? `&verify=${encodeURIComponent(verify)}` : ''}`;

  async function licenceByKey(key: string): Promise<LicenceRecord> {
    const licence = await store.licences.byKeyHash(hashSecret(key));
    if (!licence) throw new RmError('LINK_INVALID', 'no licence has this activation key');
    return licence;
  }

  /** Activates the licence for the account; the account administers the company's console from then on. */
  async function activate(licence: LicenceRecord, account: AccountRecord): Promise<LicenceRecord> {
    const at = clock.now();
    await store.transaction(async (tx) => {
      if (!(await tx.licences.activate(licence.id, at, account.id))) throw new RmError('LICENCE_ACTIVATED', licence.id);
      if (!account.roleIds.includes(OWNER_ROLE_ID)) await tx.accounts.update(account.id, { roleIds: [...account.roleIds, OWNER_ROLE_ID] });
    });
    logger.info('licence activated', { licenceId: licence.id, product: licence.product, seats: licence.seats, accountId: account.id });
    return { ...licence, activatedAt: at, activatedBy: account.id };
  }

  return [
    route({
      method: 'POST', path: '/licences', tag: 'licences', summary: 'Issue a licence for a product and e-mail its activation link to the buyer',
      description: 'The e-mail goes to the mail-drop folder (DATA/mail/) or over SMTP when the server is configured with one. The activation link is also in the answer, once. Once a server has issued a licence, each service needs an activated licence of its product with free seats.',
      access: needs('manage_accounts'),
      body: z.strictObject({ product: ServiceNameSchema, seats: z.int().check(z.gte(1), z.lte(1_000_000)), email: Email }),
      status: 201, response: z.object({ ...LicenceViewSchema.shape, activationUrl: z.string(), mailedTo: z.string() }), errors: ['SERVICE_NOT_SUPPORTED'],
      async handle({ account, body }) {
        refuseUnsupported(body.product);
        const key = newSecret('rml');
        const licence: LicenceRecord = { id: newId('lic'), product: body.product, seats: body.seats, email: body.email, keyHash: hashSecret(key), issuedAt: clock.now(), activatedAt: null, activatedBy: null };
        await store.licences.insert(licence);
        const title = PRODUCT_TITLES[body.product];
        const url = activationLink(key);
        await mailer.send({
          to: body.email,
          subject: `Activate your rmagent ${title} licence (${body.seats} device seats)`,
          text: [
            `Your rmagent ${title} licence for ${body.seats} device seats is ready.`,
            '',
            `Activate it here:`,
            url,
            '',
            'If you bought more than one product, each licence is activated on its own, from its own e-mail.',
            GENERIC_ACCOUNT_TIP,
          ].join('\n'),
        });
        logger.info('licence issued', { licenceId: licence.id, product: licence.product, seats: licence.seats, actor: account.id, mail: mailer.describe });
        return { status: 201, body: { ...licenceView(licence), activationUrl: url, mailedTo: body.email } };
      },
    }),
    route({
      method: 'GET', path: '/licences', tag: 'licences', summary: 'Licences, newest first, and the seats of each product', access: needs('manage_accounts', 'assign_policies', 'view_devices'),
      query: z.object(PageQuery), response: z.object({ licences: z.array(LicenceViewSchema), seats: z.array(SeatsSchema), licensed: z.boolean().check(z.describe('false until the first licence is issued: seats are not counted then')), next: NextCursor }),
      async handle({ query }) {
        const page = await store.licences.list(pageRequest(query));
        const seats = [];
        for (const product of ServiceNameSchema.options) {
          const s = await store.licences.seats(product);
          if (s.total || s.used) seats.push({ product, ...s, free: Math.max(0, s.total - s.used) });
        }
        return { body: { licences: page.items.map(licenceView), seats, licensed: (await store.licences.count()) > 0, next: page.next } };
      },
    }),
    publicRoute({
      method: 'POST', path: '/licences/lookup', tag: 'licences', summary: 'What an activation link is for (the activation page asks before showing its choices)',
      body: z.strictObject({ key: Key }), response: z.object({ ...LicenceViewSchema.shape, tip: z.string() }), errors: ['LINK_INVALID', 'API_RATE_LIMITED'],
      async handle({ body, http }) {
        countAttempt(signInLimiter, http, clock.now());
        return { body: { ...licenceView(await licenceByKey(body.key)), tip: GENERIC_ACCOUNT_TIP } };
      },
    }),
    route({
      method: 'POST', path: '/licences/activate', tag: 'licences', summary: 'Activate a licence with the key of its activation link (step 3 of the seed)',
      description: 'The calling account (signed in, option A, or just verified, option B) activates the licence and becomes a company administrator. A licence is activated once (409 LICENCE_ACTIVATED).',
      access: ANY_ACCOUNT, body: z.strictObject({ key: Key }), response: LicenceViewSchema, errors: ['LINK_INVALID', 'LICENCE_ACTIVATED'],
      async handle({ account, body }) {
        const licence = await licenceByKey(body.key);
        if (licence.activatedAt !== null) throw new RmError('LICENCE_ACTIVATED', licence.id);
        return { body: licenceView(await activate(licence, account)) };
      },
    }),
    publicRoute({
      method: 'POST', path: '/signup', tag: 'console', summary: 'Create an account from a licence\'s activation page (option B); a verification link is e-mailed',
      description: `Needs the licence's activation key (no open sign-up), a password of ${PASSWORD_MIN} to ${PASSWORD_MAX} characters and the accepted licence terms. The account cannot sign in until its e-mail is verified through the link (valid ${VERIFY_LINK_MS / 3_600_000} hours), which then activates the licence's page.`,
      body: z.strictObject({ key: Key, email: Email, name: z.string().check(z.minLength(1), z.maxLength(200)), password: z.string().check(z.minLength(PASSWORD_MIN), z.maxLength(PASSWORD_MAX)), acceptTerms: z.literal(true) }),
      status: 202, response: z.object({ accountId: z.string(), email: z.string(), verificationSent: z.literal(true) }),
      errors: ['LINK_INVALID', 'LICENCE_ACTIVATED', 'EMAIL_TAKEN', 'API_RATE_LIMITED'],
      async handle({ body, http }) {
        const now = clock.now();
        countAttempt(signInLimiter, http, now);
        const licence = await licenceByKey(body.key);
        if (licence.activatedAt !== null) throw new RmError('LICENCE_ACTIVATED', licence.id);
        const passwordHash = await hashPassword(body.password);
        const verify = newSecret('rmv');
        const account: AccountRecord = { id: newId('acct'), name: body.name, tokenHash: hashSecret(newSecret('rma')), roleIds: ['role-user'], createdAt: now, disabledAt: null };
        await store.transaction(async (tx) => {
          if (await tx.logins.byEmail(body.email, { forUpdate: true })) throw new RmError('EMAIL_TAKEN', body.email);
          await tx.accounts.insert(account);
          await tx.logins.insert({ accountId: account.id, email: body.email, passwordHash, emailVerifiedAt: null, termsAcceptedAt: now, failedAttempts: 0, lockedUntil: null, createdAt: now });
          await tx.verifications.insert({ tokenHash: hashSecret(verify), purpose: 'verify_email', accountId: account.id, licenceId: licence.id, createdAt: now, expiresAt: now + VERIFY_LINK_MS, usedAt: null });
        });
        await mailer.send({
          to: body.email,
          subject: 'Verify your e-mail address to activate your rmagent licence',
          text: [`Hello ${body.name},`, '', 'Open this link to verify your account and finish activating your licence (valid for 24 hours):', activationLink(body.key, verify), '', 'If you did not ask for this, ignore this e-mail.'].join('\n'),
        });
        logger.info('console account created', { accountId: account.id, licenceId: licence.id });
        return { status: 202, body: { accountId: account.id, email: body.email, verificationSent: true as const } };
      },
    }),
    publicRoute({
      method: 'POST', path: '/verify-email', tag: 'console', summary: 'Verify an account\'s e-mail with the link\'s secret (sign-up or invitation); signs the account in',
      description: 'An invited member has no password yet: `password` is required then and becomes theirs. The link works once.',
      body: z.strictObject({ token: Key, password: z.optional(z.string().check(z.minLength(PASSWORD_MIN), z.maxLength(PASSWORD_MAX))) }), response: SessionViewSchema, errors: ['LINK_INVALID', 'API_RATE_LIMITED'],
      async handle({ body, http }) {
        const now = clock.now();
        countAttempt(signInLimiter, http, now);
        const hash = hashSecret(body.token);
        const newHash = body.password ? await hashPassword(body.password) : null;
        const account = await store.transaction(async (tx) => {
          const v = await tx.verifications.byHash(hash, { forUpdate: true });
          if (!v || v.usedAt !== null || v.expiresAt <= now) throw new RmError('LINK_INVALID');
          const login = await tx.logins.get(v.accountId);
          if (!login) throw new RmError('LINK_INVALID', 'the account has no console sign-in');
          const needsPassword = login.passwordHash === '';
          if (needsPassword && !newHash) throw new RmError('API_INVALID', `password: choose a password of ${PASSWORD_MIN} to ${PASSWORD_MAX} characters`);
          if (!(await tx.verifications.use(hash, now))) throw new RmError('LINK_INVALID');
          await tx.logins.update(v.accountId, { emailVerifiedAt: now, ...(needsPassword && newHash ? { passwordHash: newHash } : {}) });
          return tx.accounts.get(v.accountId);
        });
        if (!account || account.disabledAt !== null) throw new RmError('LINK_INVALID', 'the account is gone or disabled');
        const session = await startSession(store, account, http, now);
        return { body: await sessionView(store, account, session.csrfToken, session.expiresAt), cookies: [session.cookie] };
      },
    }),
  ];
}
