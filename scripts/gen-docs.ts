// Writes the generated docs: docs/protocol/*.schema.json, docs/configuration.md, docs/openapi.json and the route
// reference of docs/server-api.md (`npm run docs`).
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { protocolJsonSchemas } from '../src/protocol/json-schema.js';
import { configurationMarkdown } from '../src/config/docs.js';
import { apiDocument, withGeneratedRoutes, routesMarkdown } from '../src/server/api/docs.js';

const docs = path.resolve(process.argv[2] ?? 'docs');
const protocolDir = path.join(docs, 'protocol');
mkdirSync(protocolDir, { recursive: true });
for (const old of readdirSync(protocolDir)) if (old.endsWith('.schema.json')) rmSync(path.join(protocolDir, old));
const files = protocolJsonSchemas();
for (const [name, text] of Object.entries(files)) writeFileSync(path.join(protocolDir, name), text);
writeFileSync(path.join(docs, 'configuration.md'), configurationMarkdown());
const openapi = apiDocument();
writeFileSync(path.join(docs, 'openapi.json'), `${JSON.stringify(openapi, null, 2)}\n`);
const serverApi = path.join(docs, 'server-api.md');
writeFileSync(serverApi, withGeneratedRoutes(readFileSync(serverApi, 'utf8'), routesMarkdown(openapi)));
console.log(`wrote ${Object.keys(files).length} protocol schemas, configuration.md, openapi.json and the route reference of server-api.md under ${docs}`);
