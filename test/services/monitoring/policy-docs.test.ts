// docs/policies.md must describe every Monitoring policy field, and its example must be a valid policy.
import { describe, expect, it } from 'vitest';
import { readFile } from 'node:fs/promises';
import * as z from 'zod/mini';
import { MonitoringCheckSchema, MonitoringPolicySchema } from '../../../src/protocol/policies/monitoring.js';
import { PolicySchema } from '../../../src/protocol/model.js';

describe('docs/policies.md Monitoring section', async () => {
  const text = await readFile(new URL('../../../docs/policies.md', import.meta.url), 'utf8');
  const section = text.slice(text.indexOf('## Monitoring'), text.indexOf('## Asset Management'));

  it('names every field of every check type', () => {
    for (const option of MonitoringCheckSchema.def.options) {
      for (const [field, schema] of Object.entries((option as z.ZodMiniObject).shape)) {
        expect(section, field).toContain(`\`${field}\``);
        if (field !== 'type') expect(z.globalRegistry.get(schema as z.ZodMiniType)?.description, `${field} has a description`).toBeTruthy();
      }
    }
  });

  it('shows an example that is a valid Monitoring policy', () => {
    const json = section.slice(section.indexOf('```json') + 7, section.indexOf('```', section.indexOf('```json') + 7));
    const policy = PolicySchema.parse(JSON.parse(json));
    expect(MonitoringPolicySchema.parse(policy.settings).checks).toHaveLength(7);
  });
});
