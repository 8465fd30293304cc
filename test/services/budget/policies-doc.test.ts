// docs/policies.md documents every field of the Asset, Patch and Backup policy schemas (no silent drift).
import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import * as z from 'zod/mini';
import { assetsPolicySchema } from '../../../src/protocol/policies/assets.js';
import { patchesPolicySchema } from '../../../src/protocol/policies/patches.js';
import { backupPolicySchema } from '../../../src/protocol/policies/backup.js';

describe('docs/policies.md', () => {
  it.each([
    ['Asset Management', assetsPolicySchema],
    ['Patch Management', patchesPolicySchema],
    ['Backup', backupPolicySchema],
  ] as const)('section %s names every policy field', async (title, schema) => {
    const doc = await readFile(new URL('../../../docs/policies.md', import.meta.url), 'utf8');
    const start = doc.indexOf(`\n## ${title}\n`);
    expect(start, `section "## ${title}"`).toBeGreaterThanOrEqual(0);
    const next = doc.indexOf('\n## ', start + 1);
    const section = doc.slice(start, next < 0 ? undefined : next);
    const fields = Object.keys((z.toJSONSchema(schema, { io: 'input' }) as { properties: Record<string, unknown> }).properties);
    for (const field of fields) expect(section, field).toMatch(new RegExp(`\\| \`${field}(\\.[a-z]+)?\` \\|`));
    // The example is a valid policy for the service.
    const from = section.indexOf('```json');
    const json = section.slice(from + 7, section.indexOf('```', from + 7));
    expect(schema.safeParse(JSON.parse(json)).success).toBe(true);
  });
});
