import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { protocolJsonSchemas } from '../../src/protocol/json-schema.js';

const docs = path.resolve(__dirname, '../../docs/protocol');

describe('docs/protocol', () => {
  it('matches the zod schemas (run `npm run docs` when this fails)', () => {
    const generated = protocolJsonSchemas();
    const onDisk = readdirSync(docs).filter((f) => f.endsWith('.schema.json')).sort();
    expect(onDisk).toEqual(Object.keys(generated).sort());
    for (const [name, text] of Object.entries(generated)) expect(readFileSync(path.join(docs, name), 'utf8'), name).toBe(text);
  });

  it('describes every frame type with its required fields', () => {
    const hello = JSON.parse(protocolJsonSchemas()['frame.server.hello.schema.json']!) as { required: string[] };
    expect(hello.required).toEqual(expect.arrayContaining(['agentNonce', 'deviceKey', 'nonce', 'serverKey', 'protocol', 'channel']));
  });
});

describe('docs/configuration.md', () => {
  it('matches the config schema (run `npm run docs` when this fails)', async () => {
    const { configurationMarkdown } = await import('../../src/config/docs.js');
    expect(readFileSync(path.resolve(docs, '../configuration.md'), 'utf8')).toBe(configurationMarkdown());
  });
});
