// JSON Schema of every frame, generated from the zod schemas (the code is the truth; docs/protocol/ follows it).
import * as z from 'zod/mini';
import { BODY_SCHEMAS, EnvelopeSchema, REPORT_DATA_SCHEMAS } from './frames.js';

/** File name -> JSON text, for docs/protocol/. Deterministic so a test can tell when the docs are stale. */
export function protocolJsonSchemas(): Record<string, string> {
  const files: Record<string, string> = {};
  const write = (name: string, schema: z.ZodMiniType, title: string) => {
    const json = { title, ...z.toJSONSchema(schema, { io: 'input', unrepresentable: 'any' }) };
    files[`${name}.schema.json`] = `${JSON.stringify(json, null, 2)}\n`;
  };
  write('envelope', EnvelopeSchema, 'Frame envelope {v, id, type, ts, body, sig?}');
  for (const [type, schema] of Object.entries(BODY_SCHEMAS)) write(`frame.${type}`, schema, `Body of a "${type}" frame`);
  for (const [kind, schema] of Object.entries(REPORT_DATA_SCHEMAS)) if (schema) write(`report.${kind}`, schema, `Data of a "${kind}" report`);
  return files;
}
