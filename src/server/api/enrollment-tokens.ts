// Enrollment token routes: one use and one day by default (an MDM roll-out asks for more uses explicitly), tags the
// enrolled devices receive, listing without the secret, revocation.
import * as z from 'zod/mini';
import { needs } from '../access.js';
import { hashSecret, newId, newSecret } from '../secrets.js';
import { enrollmentTokenView, EnrollmentTokenViewSchema } from '../views.js';
import type { EnrollmentTokenRecord } from '../store/store.js';
import type { ApiDeps } from './deps.js';
import { TagSchema, MAX_TAGS_PER_DEVICE } from './devices.js';
import { IdParam, NextCursor, notFound, PageQuery, pageRequest, route, type Route } from './route.js';

export const DEFAULT_TOKEN_EXPIRY_SEC = 86_400;
export const MAX_TOKEN_EXPIRY_SEC = 90 * 86_400;

const EnrollmentTokenBody = z.strictObject({
  expiresInSec: z._default(z.int().check(z.gte(60), z.lte(MAX_TOKEN_EXPIRY_SEC)), DEFAULT_TOKEN_EXPIRY_SEC).check(z.describe('lifetime in seconds, 60 s to 90 days (default one day)')),
  maxUses: z._default(z.nullable(z.int().check(z.gte(1), z.lte(1_000_000))), 1).check(z.describe('devices it may enroll (default 1); null = any number until it expires')),
  label: z._default(z.nullable(z.string().check(z.maxLength(200))), null),
  tags: z._default(z.array(TagSchema).check(z.maxLength(MAX_TAGS_PER_DEVICE)), []).check(z.describe('tags every device enrolled with this token receives')),
});

export function enrollmentTokenRoutes({ store, clock, logger }: ApiDeps): Route[] {
  const tokenOrThrow = async (id: string) => {
    const token = await store.enrollmentTokens.get(id);
    if (!token) throw notFound(`enrollment token ${id}`);
    return token;
  };
  return [
    route({
      method: 'POST', path: '/enrollment-tokens', tag: 'enrollment', summary: 'Create an enrollment token; the token is in the answer, once', access: needs('enroll_devices'),
      body: EnrollmentTokenBody, status: 201,
      response: z.object({ ...EnrollmentTokenViewSchema.shape, token: z.string().check(z.describe('what `rmagent enroll --token` takes: shown once, stored only as a hash')) }),
      async handle({ account, body }) {
        const token = newSecret('enr');
        const now = clock.now();
        const record: EnrollmentTokenRecord = {
          id: newId('enr'), tokenHash: hashSecret(token), label: body.label, expiresAt: now + body.expiresInSec * 1000, maxUses: body.maxUses, uses: 0,
          tags: [...new Set(body.tags)], createdBy: account.id, createdAt: now, revokedAt: null, revokedBy: null,
        };
        await store.enrollmentTokens.insert(record);
        return { status: 201, body: { ...enrollmentTokenView(record), token } };
      },
    }),
    route({
      method: 'GET', path: '/enrollment-tokens', tag: 'enrollment', summary: 'List enrollment tokens (never the secret), newest first', access: needs('enroll_devices'),
      query: z.object({ includeRevoked: z._default(z.enum(['true', 'false']), 'false'), ...PageQuery }),
      response: z.object({ tokens: z.array(EnrollmentTokenViewSchema), next: NextCursor }),
      async handle({ query }) {
        const page = await store.enrollmentTokens.list(pageRequest(query), { includeRevoked: query.includeRevoked === 'true' });
        return { body: { tokens: page.items.map(enrollmentTokenView), next: page.next } };
      },
    }),
    route({
      method: 'GET', path: '/enrollment-tokens/:id', tag: 'enrollment', summary: 'One enrollment token', access: needs('enroll_devices'),
      params: IdParam, response: EnrollmentTokenViewSchema, errors: ['API_NOT_FOUND'],
      handle: async ({ params }) => ({ body: enrollmentTokenView(await tokenOrThrow(params.id)) }),
    }),
    route({
      method: 'DELETE', path: '/enrollment-tokens/:id', tag: 'enrollment', summary: 'Revoke an enrollment token: no device enrolls with it any more',
      description: 'Devices already enrolled with it stay enrolled (delete them one by one to revoke their keys). Revoking twice is harmless.',
      access: needs('enroll_devices'), params: IdParam, response: EnrollmentTokenViewSchema, errors: ['API_NOT_FOUND'],
      async handle({ account, params }) {
        await tokenOrThrow(params.id);
        await store.enrollmentTokens.revoke(params.id, clock.now(), account.id);
        logger.info('enrollment token revoked', { tokenId: params.id, actor: account.id });
        return { body: enrollmentTokenView(await tokenOrThrow(params.id)) };
      },
    }),
  ];
}
