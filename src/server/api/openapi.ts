// The OpenAPI 3.1 document, generated from the declared routes' zod schemas (zod's own toJSONSchema; OpenAPI 3.1
// schemas are JSON Schema 2020-12). Named view schemas (z.meta({id})) become components/schemas.
import * as z from 'zod/mini';
import { ERRORS, type ErrorCode } from '../../protocol/errors.js';
import { AGENT_VERSION } from '../../version.js';
import type { Access } from '../access.js';
import { API_PREFIX, HTTP_STATUS, MAX_BODY_BYTES, type Route } from './route.js';

type Json = Record<string, unknown>;

const ErrorSchema = z.object({ error: z.object({ code: z.string(), message: z.string(), hint: z.string(), permission: z.optional(z.string()) }) });

/** Error codes every authenticated route may answer. */
const COMMON_ERRORS: ErrorCode[] = ['API_UNAUTHORIZED', 'API_ACCOUNT_DISABLED', 'API_FORBIDDEN', 'API_INVALID'];

function accessText(access: Access): string {
  if (access.kind === 'public') return 'no token needed';
  if (access.kind === 'account') return 'any enabled account';
  return `permission ${access.anyOf.map((p) => `\`${p}\``).join(' or ')}`;
}

export function buildOpenApi(routes: readonly Route[]): Json {
  const components: Record<string, Json> = {};
  // Moves $defs into components and points the $refs there; named schemas must not differ between uses.
  const hoist = (schema: Json): Json => {
    const { $schema: _s, $defs, ...rest } = schema as Json & { $defs?: Record<string, Json> };
    for (const [name, def] of Object.entries($defs ?? {})) {
      const fixed = rewriteRefs(def) as Json;
      const known = components[name];
      if (known && JSON.stringify(known) !== JSON.stringify(fixed)) throw new Error(`two different schemas are named ${name}`);
      components[name] = fixed;
    }
    return rewriteRefs(rest) as Json;
  };
  const toSchema = (s: z.ZodMiniType, io: 'input' | 'output'): Json => hoist(z.toJSONSchema(s, { io, unrepresentable: 'any', target: 'draft-2020-12' }) as Json);
  const errorResponse = (codes: ErrorCode[]) => ({
    description: codes.map((c) => `\`${c}\`: ${ERRORS[c].message}`).join('; '),
    content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } },
  });

  const paths: Record<string, Record<string, Json>> = {};
  for (const r of routes) {
    const path = `${API_PREFIX}${r.path.replace(/:([A-Za-z]+)/g, '{$1}')}`;
    const parameters: Json[] = [];
    const params = toSchema(r.params, 'input') as { properties?: Record<string, Json> };
    for (const [name, schema] of Object.entries(params.properties ?? {})) parameters.push({ name, in: 'path', required: true, schema });
    const query = toSchema(r.query, 'input') as { properties?: Record<string, Json>; required?: string[] };
    for (const [name, schema] of Object.entries(query.properties ?? {})) {
      const { description, ...rest } = schema;
      parameters.push({ name, in: 'query', required: (query.required ?? []).includes(name) && !('default' in rest), ...(description ? { description } : {}), schema: rest, ...(rest.anyOf ? { explode: true } : {}) });
    }
    const byStatus = new Map<number, ErrorCode[]>();
    for (const code of [...COMMON_ERRORS, ...(r.method !== 'GET' ? (['API_CSRF'] as ErrorCode[]) : []), ...(r.body ? (['API_BODY_TOO_LARGE'] as ErrorCode[]) : []), ...r.errors]) {
      const status = HTTP_STATUS[code] ?? 500;
      byStatus.set(status, [...new Set([...(byStatus.get(status) ?? []), code])]);
    }
    const operation: Json = {
      operationId: `${r.method.toLowerCase()}${r.path.replace(/\/:?([A-Za-z])([A-Za-z-]*)/g, (_, a: string, b: string) => a.toUpperCase() + b.replace(/-([a-z])/g, (_m, c: string) => c.toUpperCase()))}`,
      tags: [r.tag],
      summary: r.summary,
      description: [r.description, `Access: ${accessText(r.access)}.`].filter(Boolean).join('\n\n'),
      'x-rmagent-access': r.access.kind === 'permission' ? { anyOf: r.access.anyOf } : { kind: r.access.kind },
      ...(r.access.kind === 'public' ? { security: [] } : {}),
      ...(parameters.length ? { parameters } : {}),
      ...(r.body ? { requestBody: { required: true, content: { 'application/json': { schema: toSchema(r.body, 'input') } } } } : {}),
      responses: {
        [String(r.status)]: { description: 'Success', content: { 'application/json': { schema: toSchema(r.response, 'output') } } },
        ...Object.fromEntries([...byStatus].sort(([a], [b]) => a - b).map(([status, codes]) => [String(status), errorResponse(codes)])),
      },
    };
    (paths[path] ??= {})[r.method.toLowerCase()] = operation;
  }
  const plain = (summary: string, status: number, schema: Json) => ({ get: { operationId: summary.split(' ')[0], tags: ['health'], summary, security: [], responses: { [String(status)]: { description: 'Success', content: { 'application/json': { schema } } } } } });
  paths['/healthz'] = plain('healthz: the process answers', 200, { type: 'object', properties: { status: { const: 'ok' } }, required: ['status'] });
  paths['/readyz'] = plain('readyz: the server accepts work (store reachable, not stopping); 503 SERVER_NOT_READY otherwise', 200, { type: 'object', properties: { status: { const: 'ready' } }, required: ['status'] });
  paths[`${API_PREFIX}/openapi.json`] = plain('openapi: this document', 200, { type: 'object' });

  components.Error = toSchema(ErrorSchema, 'output');
  return {
    openapi: '3.1.0',
    info: {
      title: 'rmagent-server API',
      version: AGENT_VERSION,
      description: `Console API of the rmagent management server. JSON in and out; bodies up to ${MAX_BODY_BYTES} bytes. Every time is epoch milliseconds with an ISO-8601 twin (…Iso). Lists are paginated by cursor (limit, cursor -> next).`,
    },
    servers: [{ url: '/' }],
    security: [{ bearer: [] }, { session: [] }],
    tags: [...new Set(routes.map((r) => r.tag))].map((name) => ({ name })),
    paths: Object.fromEntries(Object.entries(paths).sort(([a], [b]) => a.localeCompare(b))),
    components: {
      securitySchemes: {
        bearer: { type: 'http', scheme: 'bearer', description: 'An account API token (the owner token is in DATA/owner.token): for scripts and automation' },
        session: { type: 'apiKey', in: 'cookie', name: 'rmagent_session', description: 'The web console\'s session cookie (POST /api/v1/session). Every change made with it needs the session\'s csrfToken in the X-CSRF-Token header and, from a browser, an Origin of this server' },
      },
      schemas: Object.fromEntries(Object.entries(components).sort(([a], [b]) => a.localeCompare(b))),
    },
  };
}

function rewriteRefs(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(rewriteRefs);
  if (!value || typeof value !== 'object') return value;
  return Object.fromEntries(
    Object.entries(value).map(([k, v]) => [k, k === '$ref' && typeof v === 'string' ? v.replace(/^#\/\$defs\//, '#/components/schemas/') : rewriteRefs(v)]),
  );
}
