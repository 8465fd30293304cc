// Console routes: who am I, roles, accounts, enrollment tokens.
import * as z from 'zod/mini';
import { IdSchema } from '../protocol/model.js';
import { PERMISSIONS, requirePermission } from './access.js';
import { must, notFound, parseBody, type Route } from './http.js';
import { hashSecret, newId, newSecret } from './secrets.js';
import type { ApiDeps } from './routes.js';

const RoleBody = z.strictObject({ name: z.string().check(z.minLength(1), z.maxLength(200)), permissions: z.array(z.enum(PERMISSIONS)).check(z.maxLength(PERMISSIONS.length)) });
const AccountBody = z.strictObject({ name: z.string().check(z.minLength(1), z.maxLength(200)), roleIds: z._default(z.array(IdSchema).check(z.maxLength(32)), []) });
const EnrollmentTokenBody = z.strictObject({
  /** Default one week; MDM roll-outs take days. */
  expiresInSec: z._default(z.int().check(z.gte(60), z.lte(365 * 86_400)), 7 * 86_400),
  /** null/absent = unlimited uses until expiry (one token for a whole fleet). */
  maxUses: z._default(z.nullable(z.int().check(z.gte(1), z.lte(1_000_000))), null),
});

export function consoleRoutes({ store, clock }: ApiDeps): Route[] {
  return [
    {
      method: 'GET',
      path: '/me',
      handle: ({ account, perms }) => ({
        body: { id: account.id, name: account.name, roles: store.data.roles.filter((r) => account.roleIds.includes(r.id)), permissions: [...perms].sort() },
      }),
    },
    { method: 'GET', path: '/roles', handle: () => ({ body: { roles: store.data.roles } }) },
    {
      method: 'POST',
      path: '/roles',
      async handle({ perms, body }) {
        must(requirePermission(perms, 'manage_accounts'));
        const input = parseBody(RoleBody, body);
        const role = { id: newId('role'), name: input.name, permissions: [...new Set(input.permissions)] };
        store.data.roles.push(role);
        await store.commit();
        return { status: 201, body: role };
      },
    },
    {
      method: 'GET',
      path: '/accounts',
      handle({ perms }) {
        must(requirePermission(perms, 'manage_accounts'));
        return { body: { accounts: store.data.accounts.map(({ tokenHash: _t, ...a }) => a) } };
      },
    },
    {
      method: 'POST',
      path: '/accounts',
      async handle({ perms, body }) {
        must(requirePermission(perms, 'manage_accounts'));
        const input = parseBody(AccountBody, body);
        const unknown = input.roleIds.find((id) => !store.data.roles.some((r) => r.id === id));
        if (unknown) throw notFound(`role ${unknown}`);
        const token = newSecret('rma');
        const account = { id: newId('acct'), name: input.name, tokenHash: hashSecret(token), roleIds: input.roleIds, createdAt: clock.now() };
        store.data.accounts.push(account);
        await store.commit();
        return { status: 201, body: { id: account.id, name: account.name, roleIds: account.roleIds, token } };
      },
    },
    {
      method: 'POST',
      path: '/enrollment-tokens',
      async handle({ account, perms, body }) {
        must(requirePermission(perms, 'enroll_devices'));
        const input = parseBody(EnrollmentTokenBody, body);
        const token = newSecret('enr');
        const now = clock.now();
        const record = { id: newId('enr'), tokenHash: hashSecret(token), expiresAt: now + input.expiresInSec * 1000, maxUses: input.maxUses, uses: 0, createdBy: account.id, createdAt: now };
        store.data.enrollmentTokens.push(record);
        await store.commit();
        return { status: 201, body: { id: record.id, token, expiresAt: record.expiresAt, maxUses: record.maxUses } };
      },
    },
    {
      method: 'GET',
      path: '/enrollment-tokens',
      handle({ perms }) {
        must(requirePermission(perms, 'enroll_devices'));
        return { body: { tokens: store.data.enrollmentTokens.map(({ tokenHash: _t, ...t }) => t) } };
      },
    },
  ];
}
