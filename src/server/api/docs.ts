// The route reference of docs/server-api.md, generated from the OpenAPI document (`npm run docs`; a test fails when
// the committed file differs), so the prose docs and the API cannot drift apart.
import type { ApiDeps } from './deps.js';
import { buildOpenApi } from './openapi.js';
import { allRoutes } from './routes.js';

type Json = Record<string, unknown>;

export const GENERATED_BEGIN = '<!-- BEGIN GENERATED: routes (npm run docs; from the OpenAPI document) -->';
export const GENERATED_END = '<!-- END GENERATED: routes -->';

/** The OpenAPI document without a running server: the route declarations only capture their dependencies. */
export function apiDocument(): Json {
  const unavailable = (name: string): unknown =>
    new Proxy(() => undefined, {
      get: () => unavailable(name),
      apply: () => {
        throw new Error(`${name} is not available while describing the API`);
      },
    });
  const deps = new Proxy({} as ApiDeps, { get: (_t, key) => (key === 'servingTlsPin' ? null : unavailable(String(key))) });
  return buildOpenApi(allRoutes(deps));
}

/** A compact, TypeScript-like spelling of a JSON Schema. */
export function typeText(schema: Json | undefined, depth = 0): string {
  if (!schema || Object.keys(schema).length === 0) return 'any';
  if (typeof schema.$ref === 'string') return schema.$ref.split('/').pop()!;
  if ('const' in schema) return JSON.stringify(schema.const);
  if (Array.isArray(schema.enum)) return schema.enum.map((v) => JSON.stringify(v)).join(' \\| ');
  const union = (schema.anyOf ?? schema.oneOf) as Json[] | undefined;
  if (union) return union.map((s) => typeText(s, depth)).join(' \\| ');
  const types = Array.isArray(schema.type) ? (schema.type as string[]) : [schema.type as string];
  const nullable = types.includes('null');
  const main = types.filter((t) => t !== 'null')[0];
  if (!main && nullable) return 'null';
  let text: string;
  if (main === 'array') text = `${typeText(schema.items as Json, depth)}[]`;
  else if (main === 'object') {
    const props = schema.properties as Record<string, Json> | undefined;
    if (props && Object.keys(props).length) {
      const required = new Set((schema.required as string[]) ?? []);
      text = depth >= 2 ? 'object' : `{ ${Object.entries(props).map(([k, v]) => `${k}${required.has(k) || 'default' in v ? '' : '?'}: ${typeText(v, depth + 1)}`).join(', ')} }`;
    } else if (schema.additionalProperties && typeof schema.additionalProperties === 'object' && Object.keys(schema.additionalProperties).length) text = `{ [key]: ${typeText(schema.additionalProperties as Json, depth + 1)} }`;
    else text = 'object';
  } else text = main ?? 'any';
  return nullable ? `${text} \\| null` : text;
}

const cell = (text: unknown) => String(text ?? '').replace(/\|/g, '\\|').replace(/\n/g, ' ');

function fieldTable(schema: Json): string[] {
  const props = (schema.properties ?? {}) as Record<string, Json>;
  const required = new Set((schema.required as string[]) ?? []);
  const rows = Object.entries(props).map(([name, p]) => {
    const bound = (v: unknown) => v !== undefined && Math.abs(Number(v)) !== Number.MAX_SAFE_INTEGER;
    const limits = [bound(p.minimum) ? `≥ ${p.minimum}` : '', bound(p.maximum) ? `≤ ${p.maximum}` : '', p.maxLength !== undefined ? `≤ ${p.maxLength} chars` : '', p.maxItems !== undefined ? `≤ ${p.maxItems} items` : '', 'default' in p ? `default ${JSON.stringify(p.default)}` : ''].filter(Boolean).join(', ');
    const description = p.description ?? ((p.anyOf ?? []) as Json[]).find((x) => x.description)?.description;
    return `| \`${name}\` | ${typeText(p, 1)} | ${required.has(name) && !('default' in p) ? 'yes' : 'no'} | ${cell([description, limits].filter(Boolean).join('; '))} |`;
  });
  return rows.length ? ['| field | type | required | notes |', '|---|---|---|---|', ...rows] : [];
}

/** The generated part of docs/server-api.md: every route, then every named schema. */
export function routesMarkdown(doc: Json = apiDocument()): string {
  const out: string[] = [GENERATED_BEGIN, ''];
  const paths = doc.paths as Record<string, Record<string, Json>>;
  const tags = (doc.tags as Array<{ name: string }>).map((t) => t.name);
  for (const tag of ['health', ...tags]) {
    const ops = Object.entries(paths).flatMap(([p, methods]) => Object.entries(methods).map(([m, op]) => ({ path: p, method: m.toUpperCase(), op }))).filter((o) => (o.op.tags as string[]).includes(tag));
    if (!ops.length) continue;
    out.push(`### ${tag}`, '');
    for (const { path, method, op } of ops) {
      out.push(`#### \`${method} ${path}\``, '', String(op.summary), '');
      if (op.description) out.push(String(op.description), '');
      const params = (op.parameters ?? []) as Array<{ name: string; in: string; required?: boolean; description?: string; schema: Json }>;
      if (params.length) out.push('| parameter | in | type | notes |', '|---|---|---|---|', ...params.map((p) => `| \`${p.name}\` | ${p.in} | ${typeText(p.schema)} | ${cell([p.required ? 'required' : '', p.description, 'default' in p.schema ? `default ${JSON.stringify(p.schema.default)}` : ''].filter(Boolean).join('; '))} |`), '');
      const body = ((op.requestBody as Json | undefined)?.content as Record<string, { schema: Json }> | undefined)?.['application/json']?.schema;
      if (body) out.push('Body:', '', ...fieldTable(body), '');
      const responses = op.responses as Record<string, Json>;
      for (const [status, r] of Object.entries(responses)) {
        const schema = (r.content as Record<string, { schema: Json }> | undefined)?.['application/json']?.schema;
        if (Number(status) < 400) out.push(`Answer ${status}: \`${typeText(schema)}\``, '');
      }
      const errors = Object.entries(responses).filter(([s]) => Number(s) >= 400).map(([s, r]) => `${s} (${cell(r.description)})`);
      if (errors.length) out.push(`Errors: ${errors.join('; ')}`, '');
    }
  }
  out.push('### Schemas', '');
  for (const [name, schema] of Object.entries((doc.components as { schemas: Record<string, Json> }).schemas)) {
    out.push(`#### ${name}`, '');
    if (schema.description) out.push(String(schema.description), '');
    out.push(...fieldTable(schema), '');
  }
  out.push(GENERATED_END);
  return `${out.join('\n')}\n`;
}

/** docs/server-api.md with its generated section replaced (the hand-written parts around it are kept). */
export function withGeneratedRoutes(markdown: string, generated = routesMarkdown()): string {
  const begin = markdown.indexOf(GENERATED_BEGIN);
  const end = markdown.indexOf(GENERATED_END);
  if (begin < 0 || end < begin) throw new Error(`docs/server-api.md lacks the ${GENERATED_BEGIN} ... ${GENERATED_END} markers`);
  return `${markdown.slice(0, begin)}${generated}${markdown.slice(end + GENERATED_END.length + 1)}`;
}
