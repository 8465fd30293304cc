// Writes docs/protocol/*.schema.json from the zod schemas: `npm run docs:protocol`.
import { mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { protocolJsonSchemas } from '../src/protocol/json-schema.js';

const dir = path.resolve(process.argv[2] ?? 'docs/protocol');
mkdirSync(dir, { recursive: true });
for (const old of readdirSync(dir)) if (old.endsWith('.schema.json')) rmSync(path.join(dir, old));
const files = protocolJsonSchemas();
for (const [name, text] of Object.entries(files)) writeFileSync(path.join(dir, name), text);
console.log(`wrote ${Object.keys(files).length} schemas to ${dir}`);
