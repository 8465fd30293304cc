// docs/openapi.json and the route reference of docs/server-api.md are what the code generates (`npm run docs`), and
// the document the server serves is the same one; every $ref resolves.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { apiDocument, withGeneratedRoutes } from '../../src/server/api/docs.js';
import { serverIn, tempDir } from './helpers.js';
import type { RunningServer } from '../../src/server/server.js';

const docs = path.resolve(__dirname, '../../docs');
let server: RunningServer | undefined;
afterAll(async () => server?.stop());

describe('API docs', () => {
  it('docs/openapi.json and docs/server-api.md are fresh (run `npm run docs` after changing a route or a schema)', () => {
    const doc = apiDocument();
    expect(JSON.parse(readFileSync(path.join(docs, 'openapi.json'), 'utf8'))).toEqual(doc);
    const markdown = readFileSync(path.join(docs, 'server-api.md'), 'utf8');
    expect(withGeneratedRoutes(markdown)).toBe(markdown);
  });

  it('the server serves that document, and every $ref in it resolves', async () => {
    server = await serverIn(await tempDir());
    const served = await (await fetch(`${server.httpUrl}/api/v1/openapi.json`)).json();
    const doc = apiDocument() as { components: { schemas: Record<string, unknown> } };
    expect(served).toEqual(doc);
    const refs = [...JSON.stringify(doc).matchAll(/"\$ref":"#\/components\/schemas\/([^"]+)"/g)].map((m) => m[1]!);
    expect(refs.length).toBeGreaterThan(10);
    for (const ref of refs) expect(doc.components.schemas[ref], ref).toBeDefined();
  });
});
