// Writes the generated docs: docs/protocol/*.schema.json and docs/configuration.md (`npm run docs`).
import { mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { protocolJsonSchemas } from '../src/protocol/json-schema.js';
import { configurationMarkdown } from '../src/config/docs.js';

const docs = path.resolve(process.argv[2] ?? 'docs');
const protocolDir = path.join(docs, 'protocol');
mkdirSync(protocolDir, { recursive: true });
for (const old of readdirSync(protocolDir)) if (old.endsWith('.schema.json')) rmSync(path.join(protocolDir, old));
const files = protocolJsonSchemas();
for (const [name, text] of Object.entries(files)) writeFileSync(path.join(protocolDir, name), text);
writeFileSync(path.join(docs, 'configuration.md'), configurationMarkdown());
console.log(`wrote ${Object.keys(files).length} protocol schemas and configuration.md under ${docs}`);
