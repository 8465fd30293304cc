import { describe, expect, it } from 'vitest';
import { lazyRecord } from '../../src/protocol/lazy-record.js';
import { BODY_SCHEMAS, COMMAND_BODY_SCHEMAS, COMMAND_TYPES } from '../../src/protocol/frames.js';

describe('lazyRecord', () => {
  it('builds a value on its first read only, and keeps it', () => {
    const built: string[] = [];
    const record = lazyRecord({ a: () => (built.push('a'), { n: 1 }), b: () => (built.push('b'), { n: 2 }) });
    expect(Object.keys(record)).toEqual(['a', 'b']);
    expect(Object.hasOwn(record, 'a')).toBe(true);
    expect(built).toEqual([]);
    const first = record.a;
    expect(record.a).toBe(first);
    expect(built).toEqual(['a']);
    expect(() => ((record as { a: unknown }).a = { n: 3 })).toThrow(TypeError);
    expect(record.a).toBe(first);
  });

  it('gives a command the same schema in BODY_SCHEMAS and COMMAND_BODY_SCHEMAS', () => {
    for (const type of COMMAND_TYPES) expect(BODY_SCHEMAS[type]).toBe(COMMAND_BODY_SCHEMAS[type]);
  });
});
