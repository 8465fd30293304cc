// The agent's code appended to a Linux single executable (src/system/code-payload.ts), on real files: what the
// build writes reads back whole, and a cut or foreign file is refused with a reason instead of running garbage.
import fs from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { TRAILER_BYTES, codePayloadTrailer, payloadCode, readCodePayload } from '../../src/system/code-payload.js';
import { compileCommonJs } from '../../src/system/commonjs.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'code-payload-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

/** A stand-in executable: some bytes, then code, cache and trailer as the build appends them. */
function executable(name: string, code: string, cache: Buffer): string {
  const file = path.join(dir, name);
  const bytes = Buffer.from(code, 'utf8');
  fs.writeFileSync(file, Buffer.concat([Buffer.from('\x7fELF and the rest of the runtime'), bytes, cache, codePayloadTrailer(bytes.length, cache.length)]));
  return file;
}

describe('code payload', () => {
  it('reads back the code and its code cache, non-ASCII text included', () => {
    const code = "module.exports = 'état: ok';";
    const file = executable('ok', code, Buffer.from([1, 2, 3, 4]));
    const payload = readCodePayload(file);
    expect(payload.code).toBe(code);
    expect([...payload.cache!]).toEqual([1, 2, 3, 4]);
    expect(readCodePayload(executable('no-cache', code, Buffer.alloc(0))).cache).toBeUndefined();
  });

  it('runs as a CommonJS module once compiled with the parameters the loader uses, a #! line included', () => {
    const code = payloadCode('#!/usr/bin/env node\nmodule.exports = { sum: require("node:path").join("a", "b") };\n');
    const { code: read } = readCodePayload(executable('shebang', code, Buffer.alloc(0)));
    const module = { exports: {} as { sum?: string } };
    compileCommonJs(read)(module.exports, createRequire(import.meta.url), module, 'x', '.');
    expect(module.exports.sum).toBe(path.join('a', 'b'));
    // Same lines as the bundle, so its source map still applies.
    expect(code.split('\n')).toHaveLength(3);
  });

  it('refuses a file without the trailer (a stripped executable, or a plain one)', () => {
    const file = path.join(dir, 'plain');
    fs.writeFileSync(file, 'just a runtime');
    expect(() => readCodePayload(file)).toThrow(/does not end with the agent's code/);
    fs.writeFileSync(file, '');
    expect(() => readCodePayload(file)).toThrow(/does not end with the agent's code/);
  });

  it('refuses a payload whose lengths do not fit the file (cut short in transit)', () => {
    const file = path.join(dir, 'cut');
    fs.writeFileSync(file, Buffer.concat([Buffer.from('abc'), codePayloadTrailer(1_000, 10)]));
    expect(() => readCodePayload(file)).toThrow(/cut short/);
    fs.writeFileSync(file, codePayloadTrailer(0, 0));
    expect(() => readCodePayload(file)).toThrow(/cut short/);
    expect(TRAILER_BYTES).toBe(codePayloadTrailer(1, 1).length);
  });
});
