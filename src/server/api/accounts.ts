// Who am I, roles and accounts: create, change, disable (the token is refused until enabled again), new tokens.
import * as z from 'zod/mini';
import { RmError } from '../../protocol/errors.js';
import { IdSchema } from '../../protocol/model.js';
import { ANY_ACCOUNT, decideAccountChange, needs, permissionsOf, PERMISSIONS, type Permission } from '../access.js';
import { hashSecret, newId, newSecret } from '../secrets.js';
import { VERIFY_LINK_MS } from './licences.js';
import { Email } from './sign-in.js';
import { accountView, AccountViewSchema, roleView, RoleViewSchema } from '../views.js';
import type { AccountRecord, RoleRecord } from '../store/store.js';
import type { ApiDeps } from './deps.js';
import { conflict, IdParam, must, NextCursor, notFound, PageQuery, pageRequest, route, type Route } from './route.js';

/** The account created at first start; its token lives in DATA/owner.token. */
export const OWNER_ACCOUNT_ID = 'acct-owner';

const Name = z.string().check(z.minLength(1), z.maxLength(200));
const Permissions = z.array(z.enum(PERMISSIONS)).check(z.maxLength(PERMISSIONS.length));
const RoleIds = z.array(IdSchema).check(z.maxLength(32));
const Token = z.string().check(z.describe('the API token: shown once, stored only as a hash'));

export function accountRoutes({ store, clock, logger, mailer, publicUrl }: ApiDeps): Route[] {
  const roleOrThrow = async (id: string): Promise<RoleRecord> => {
    const role = await store.roles.get(id);
    if (!role) throw notFound(`role ${id}`);
    return role;
  };
  const accountOrThrow = async (id: string): Promise<AccountRecord> => {
    const account = await store.accounts.get(id);
    if (!account) throw notFound(`account ${id}`);
    return account;
  };
  const assertRolesExist = async (ids: readonly string[]) => {
    const roles = await store.roles.list();
    const unknown = ids.find((id) => !roles.some((r) => r.id === id));
    if (unknown) throw notFound(`role ${unknown}`);
    return roles;
  };

  return [
    route({
      method: 'GET', path: '/me', tag: 'accounts', summary: 'The calling account, its roles and permissions', access: ANY_ACCOUNT,
      response: z.object({ id: z.string(), name: z.string(), roles: z.array(RoleViewSchema), permissions: z.array(z.enum(PERMISSIONS)) }),
      async handle({ account, perms }) {
        const roles = (await store.roles.list()).filter((r) => account.roleIds.includes(r.id));
        return { body: { id: account.id, name: account.name, roles: roles.map(roleView), permissions: [...perms].sort() } };
      },
    }),
    route({
      method: 'GET', path: '/roles', tag: 'accounts', summary: 'List roles', access: needs('manage_accounts'),
      response: z.object({ roles: z.array(RoleViewSchema) }),
      handle: async () => ({ body: { roles: (await store.roles.list()).map(roleView) } }),
    }),
    route({
      method: 'POST', path: '/roles', tag: 'accounts', summary: 'Create a role', access: needs('manage_accounts'),
      body: z.strictObject({ name: Name, permissions: Permissions }), status: 201, response: RoleViewSchema,
      async handle({ body }) {
        const role: RoleRecord = { id: newId('role'), name: body.name, permissions: [...new Set(body.permissions)], builtIn: false };
        await store.roles.insert(role);
        return { status: 201, body: roleView(role) };
      },
    }),
    route({
      method: 'PATCH', path: '/roles/:id', tag: 'accounts', summary: 'Rename a role or change its permissions (not the built-in ones)', access: needs('manage_accounts'),
      params: IdParam, body: z.strictObject({ name: z.optional(Name), permissions: z.optional(Permissions) }), response: RoleViewSchema, errors: ['API_NOT_FOUND', 'API_CONFLICT'],
      async handle({ account, params, body }) {
        const role = await roleOrThrow(params.id);
        if (role.builtIn) throw conflict(`${role.id} is a built-in role; create a role with the permissions you need`);
        const next = { ...role, name: body.name ?? role.name, permissions: body.permissions ? [...new Set(body.permissions)] : role.permissions };
        const after = permissionsOf(account.roleIds, (await store.roles.list()).map((r) => (r.id === role.id ? next : r)));
        must(decideAccountChange(account.id, account.id, { losesManageAccounts: !after.has('manage_accounts') }));
        await store.roles.update(role.id, { name: next.name, permissions: next.permissions });
        return { body: roleView(next) };
      },
    }),
    route({
      method: 'DELETE', path: '/roles/:id', tag: 'accounts', summary: 'Delete a role no account holds (not the built-in ones)', access: needs('manage_accounts'),
      params: IdParam, response: z.object({ id: z.string(), deleted: z.literal(true) }), errors: ['API_NOT_FOUND', 'API_CONFLICT'],
      async handle({ params }) {
        await store.transaction(async (tx) => {
          const role = await tx.roles.get(params.id);
          if (!role) throw notFound(`role ${params.id}`);
          if (role.builtIn) throw conflict(`${role.id} is a built-in role`);
          const holders = await tx.roles.holders(role.id);
          if (holders) throw conflict(`role ${role.id} is held by ${holders} account(s); take it from them first`);
          await tx.roles.delete(role.id);
        });
        return { body: { id: params.id, deleted: true as const } };
      },
    }),
    route({
      method: 'GET', path: '/accounts', tag: 'accounts', summary: 'List accounts', access: needs('manage_accounts'),
      query: z.object(PageQuery), response: z.object({ accounts: z.array(AccountViewSchema), next: NextCursor }),
      async handle({ query }) {
        const page = await store.accounts.list(pageRequest(query));
        return { body: { accounts: page.items.map(accountView), next: page.next } };
      },
    }),
    route({
      method: 'POST', path: '/accounts', tag: 'accounts', summary: 'Create an account; its API token is in the answer, once',
      description: 'With `email`, the member is invited to the web console: an e-mail with a link (valid 24 hours) where they choose a password; they sign in with that e-mail afterwards.',
      access: needs('manage_accounts'),
      body: z.strictObject({ name: Name, roleIds: z._default(RoleIds, []), email: z.optional(Email) }), status: 201,
      response: z.object({ ...AccountViewSchema.shape, token: Token, invited: z.nullable(z.string()) }), errors: ['API_NOT_FOUND', 'EMAIL_TAKEN'],
      async handle({ body }) {
        await assertRolesExist(body.roleIds);
        const token = newSecret('rma');
        const now = clock.now();
        const account: AccountRecord = { id: newId('acct'), name: body.name, tokenHash: hashSecret(token), roleIds: [...new Set(body.roleIds)], createdAt: now, disabledAt: null };
        const invite = newSecret('rmv');
        await store.transaction(async (tx) => {
          if (body.email && (await tx.logins.byEmail(body.email, { forUpdate: true }))) throw new RmError('EMAIL_TAKEN', body.email);
          await tx.accounts.insert(account);
          if (!body.email) return;
          // No password yet (an empty hash never verifies): the invitation link sets it.
          await tx.logins.insert({ accountId: account.id, email: body.email, passwordHash: '', emailVerifiedAt: null, termsAcceptedAt: null, failedAttempts: 0, lockedUntil: null, createdAt: now });
          await tx.verifications.insert({ tokenHash: hashSecret(invite), purpose: 'verify_email', accountId: account.id, licenceId: null, createdAt: now, expiresAt: now + VERIFY_LINK_MS, usedAt: null });
        });
        if (body.email) {
          await mailer.send({
            to: body.email,
            subject: 'You are invited to the rmagent console',
            text: [`Hello ${body.name},`, '', 'Choose your password and sign in to the rmagent console here (valid for 24 hours):', `${publicUrl()}/console/invite#token=${invite}`].join('\n'),
          });
        }
        return { status: 201, body: { ...accountView(account), token, invited: body.email ?? null } };
      },
    }),
    route({
      method: 'GET', path: '/accounts/:id', tag: 'accounts', summary: 'One account', access: needs('manage_accounts'),
      params: IdParam, response: AccountViewSchema, errors: ['API_NOT_FOUND'],
      handle: async ({ params }) => ({ body: accountView(await accountOrThrow(params.id)) }),
    }),
    route({
      method: 'PATCH', path: '/accounts/:id', tag: 'accounts', summary: "Rename, change the roles of, disable or enable an account",
      description: 'A disabled account\'s token is refused with 401 API_ACCOUNT_DISABLED until it is enabled again. An account cannot disable itself or remove manage_accounts from itself; the owner account cannot be disabled (move DATA/owner.token away instead).',
      access: needs('manage_accounts'), params: IdParam,
      body: z.strictObject({ name: z.optional(Name), roleIds: z.optional(RoleIds), disabled: z.optional(z.boolean()) }),
      response: AccountViewSchema, errors: ['API_NOT_FOUND', 'API_CONFLICT'],
      async handle({ account, params, body }) {
        const target = await accountOrThrow(params.id);
        const roles = await assertRolesExist(body.roleIds ?? []);
        if (body.disabled && target.id === OWNER_ACCOUNT_ID) throw conflict('the owner account cannot be disabled; replace DATA/owner.token and restart to change its token');
        const losesManageAccounts = body.roleIds !== undefined && !permissionsOf(body.roleIds, roles).has('manage_accounts' as Permission);
        must(decideAccountChange(account.id, target.id, { ...(body.disabled !== undefined ? { disabled: body.disabled } : {}), losesManageAccounts }));
        const patch = {
          ...(body.name ? { name: body.name } : {}),
          ...(body.roleIds ? { roleIds: [...new Set(body.roleIds)] } : {}),
          ...(body.disabled !== undefined ? { disabledAt: body.disabled ? (target.disabledAt ?? clock.now()) : null } : {}),
        };
        await store.accounts.update(target.id, patch);
        if (body.disabled !== undefined) logger.info(body.disabled ? 'account disabled' : 'account enabled', { accountId: target.id, actor: account.id });
        return { body: accountView({ ...target, ...patch }) };
      },
    }),
    route({
      method: 'POST', path: '/accounts/:id/token', tag: 'accounts', summary: 'Give an account a new API token (the old one stops working at once)', access: needs('manage_accounts'),
      params: IdParam, response: z.object({ id: z.string(), token: Token }), errors: ['API_NOT_FOUND', 'API_CONFLICT'],
      async handle({ account, params }) {
        const target = await accountOrThrow(params.id);
        if (target.id === OWNER_ACCOUNT_ID) throw conflict('the owner token is DATA/owner.token: replace the file (or delete it) and restart the server');
        const token = newSecret('rma');
        await store.accounts.update(target.id, { tokenHash: hashSecret(token) });
        logger.info('account token replaced', { accountId: target.id, actor: account.id });
        return { body: { id: target.id, token } };
      },
    }),
  ];
}
