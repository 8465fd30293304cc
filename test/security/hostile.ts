// Generators of hostile input shared by the fast security tests (test/security) and the heavy runs (test/faults):
// invalid JSON, huge and deep values, prototype-pollution keys, path traversal, shell metacharacters, wrong types.
import v8 from 'node:v8';
import vm from 'node:vm';
import fc from 'fast-check';
import { ERRORS } from '../../src/protocol/errors.js';

export const POLLUTION_KEYS = ['__proto__', 'constructor', 'prototype'] as const;

export const SPECIAL_STRINGS = [
  ...POLLUTION_KEYS,
  '../../../../etc/passwd', '..\\..\\..\\Windows\\System32\\config\\SAM', '/etc/shadow', '%2e%2e%2f%2e%2e%2f', '....//....//',
  'C:\\Windows\\System32', '\\\\.\\pipe\\rmagent', '\u0000', 'a\u0000b', '\r\n', '\uFEFF', '\uD800', '\u202E',
  '$(reboot)', '`shutdown -h now`', '; rm -rf / #', '| curl http://127.0.0.1:1/x', '&& del /s /q C:\\', '%PATH%',
  '{"__proto__":{"polluted":true}}', 'null', 'NaN', '-0', '1e309', '', ' ', 'x'.repeat(70_000),
] as const;

export const hostileString = fc.oneof(
  { arbitrary: fc.constantFrom(...SPECIAL_STRINGS), weight: 2 },
  { arbitrary: fc.string({ unit: 'binary', maxLength: 40 }), weight: 2 },
  { arbitrary: fc.string({ unit: 'grapheme', maxLength: 40 }), weight: 1 },
  { arbitrary: fc.stringMatching(/^[A-Za-z0-9._:-]{1,130}$/), weight: 1 },
);

export const hostileKey = fc.oneof(
  { arbitrary: fc.constantFrom(...POLLUTION_KEYS), weight: 3 },
  { arbitrary: fc.string({ maxLength: 12 }), weight: 3 },
  { arbitrary: fc.constantFrom(...SPECIAL_STRINGS.filter((s) => s.length < 100)), weight: 1 },
);

export const hostileNumber = fc.oneof(
  fc.integer(),
  fc.double(),
  fc.constantFrom(Number.MAX_SAFE_INTEGER + 2, -1, 0, 1, 1e21, -1e21, 2 ** 53, 0.5),
);

const leaf = fc.oneof(fc.constant(null), fc.boolean(), hostileNumber, hostileString);

/** Any JSON-able value built from hostile parts; objects may carry __proto__/constructor keys as own properties. */
export const hostileValue: fc.Arbitrary<unknown> = fc.letrec<{ value: unknown }>((tie) => ({
  value: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    leaf,
    fc.array(tie('value'), { maxLength: 6 }),
    fc.dictionary(hostileKey, tie('value'), { maxKeys: 6 }),
  ),
})).value;

/** Text that JSON.parse may or may not accept: truncated, spliced, nested far too deep, or plain garbage. */
export function mutatedText(valid: fc.Arbitrary<string>): fc.Arbitrary<string> {
  return fc.oneof(
    valid.chain((t) => fc.nat(t.length).map((i) => t.slice(0, i))),
    valid.chain((t) => fc.tuple(fc.nat(t.length), fc.string({ unit: 'binary', maxLength: 8 })).map(([i, s]) => t.slice(0, i) + s + t.slice(i))),
    valid.chain((t) => fc.tuple(fc.nat(t.length), fc.nat(8)).map(([i, n]) => t.slice(0, i) + t.slice(i + n))),
    valid.chain((t) => fc.constantFrom(...POLLUTION_KEYS).map((k) => t.replace(/"([a-zA-Z]+)":/, `"${k}":`))),
    // A deep value spliced in as an extra key next to a real one: `"k":[[[...]]],"deep":<old value>`.
    valid.chain((t) => fc.tuple(fc.nat(), fc.integer({ min: 1, max: 100_000 })).map(([i, n]) => {
      const at = [...t.matchAll(/":/g)].map((m) => m.index + 2);
      const p = at[i % Math.max(at.length, 1)] ?? 0;
      return `${t.slice(0, p)}${'['.repeat(n)}${']'.repeat(n)},"deep":${t.slice(p)}`;
    })),
    fc.integer({ min: 1, max: 200_000 }).map((n) => '['.repeat(n) + ']'.repeat(n)),
    fc.integer({ min: 1, max: 20_000 }).map((n) => '{"a":'.repeat(n) + '1' + '}'.repeat(n)),
    fc.string({ unit: 'binary', maxLength: 200 }),
    fc.uint8Array({ maxLength: 200 }).map((b) => Buffer.from(b).toString('latin1')),
  );
}

/** Sets `value` (or deletes, when value is the DELETE marker) at a path picked by `steps` inside a copy of `root`. */
export const DELETE = Symbol('delete');
export function mutateAt(root: unknown, steps: readonly number[], key: string | null, value: unknown): unknown {
  const copy = structuredClone(root) as Record<string, unknown>;
  let node: Record<string, unknown> = copy;
  for (const step of steps) {
    const keys = Object.keys(node);
    if (!keys.length) break;
    const next = node[keys[step % keys.length]!];
    if (!next || typeof next !== 'object') break;
    node = next as Record<string, unknown>;
  }
  const keys = Object.keys(node);
  const target = key ?? keys[(steps.at(-1) ?? 0) % Math.max(keys.length, 1)] ?? 'x';
  if (value === DELETE) delete node[target];
  else Object.defineProperty(node, target, { value, enumerable: true, writable: true, configurable: true });
  return copy;
}

export const mutation = fc.record({
  steps: fc.array(fc.nat(), { maxLength: 6 }),
  key: fc.option(hostileKey, { nil: null }),
  value: fc.oneof({ arbitrary: hostileValue, weight: 4 }, { arbitrary: fc.constant<unknown>(DELETE), weight: 1 }),
});

export function isErrorCode(code: unknown): boolean {
  return typeof code === 'string' && Object.hasOwn(ERRORS, code);
}

/** Nothing a hostile input did may reach Object.prototype. */
export function prototypeIsClean(): boolean {
  const probe = {} as Record<string, unknown>;
  return probe.polluted === undefined && Object.keys(Object.prototype).length === 0 && Object.getOwnPropertyNames(Object.prototype).every((k) => k in Object.getPrototypeOf(probe));
}

/** Counts inputs per area so each suite can print its totals (docs/security.md quotes them). */
export function createTally(title: string) {
  const counts = new Map<string, number>();
  return {
    add(area: string, n = 1) {
      counts.set(area, (counts.get(area) ?? 0) + n);
    },
    total: () => [...counts.values()].reduce((a, b) => a + b, 0),
    counts: () => Object.fromEntries(counts),
    print() {
      const lines = [...counts].map(([area, n]) => `  ${area.padEnd(34)} ${n.toLocaleString('en-US')}`);
      console.log(`${title}: ${[...counts.values()].reduce((a, b) => a + b, 0).toLocaleString('en-US')} inputs\n${lines.join('\n')}`);
    },
  };
}
export type Tally = ReturnType<typeof createTally>;

// A full collection before each reading, so the figure is what is retained (a leak), not garbage not yet collected
// (which, on a busy machine, made the fast subset read 270 MB of it once).
v8.setFlagsFromString('--expose-gc');
const collectGarbage = vm.runInNewContext('gc') as () => void;

export function heapMb(): number {
  collectGarbage();
  return process.memoryUsage().heapUsed / (1024 * 1024);
}
