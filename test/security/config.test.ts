import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load.js';
import { createTally, heapMb, prototypeIsClean } from './hostile.js';
import { runConfigProperties } from './config-props.js';

const tally = createTally('security (fast): config');
afterAll(() => tally.print());
const dir = mkdtempSync(path.join(tmpdir(), 'rmagent-sec-config-'));

describe('config loader under hostile input (fast subset)', () => {
  it('loads or refuses with CONFIG_INVALID/CONFIG_UNREADABLE, never crashes, never pollutes', () => {
    const before = heapMb();
    runConfigProperties(250, tally, dir);
    expect(prototypeIsClean()).toBe(true);
    expect(heapMb() - before).toBeLessThan(150);
  });

  it('refuses a deep or huge value with a short message', () => {
    const file = path.join(dir, 'deep.json');
    writeFileSync(file, `{"teamviewer":{"root":${'['.repeat(50_000)}${']'.repeat(50_000)}},"logDir":"${'x'.repeat(100_000)}"}`);
    expect(() => loadConfig({ configFile: file, env: {}, platform: 'linux' })).toThrow(expect.objectContaining({ code: 'CONFIG_INVALID' }));
    writeFileSync(file, `{"logLevel":"${'x'.repeat(100_000)}"}`);
    let message = '';
    try {
      loadConfig({ configFile: file, env: {}, platform: 'linux' });
    } catch (err) {
      message = (err as Error).message;
    }
    expect(message).toContain('logLevel');
    expect(message.length).toBeLessThan(1_000);
    const long = () => loadConfig({ env: { RMAGENT_CONFIG: `${dir}/${'x'.repeat(70_000)}` }, platform: 'linux' });
    expect(long).toThrow(expect.objectContaining({ code: 'CONFIG_UNREADABLE', message: expect.stringMatching(/^.{1,1000}$/s) }));
  });

  it('ignores __proto__ and constructor keys in the file', () => {
    const file = path.join(dir, 'proto.json');
    writeFileSync(file, '{"__proto__":{"polluted":true},"constructor":{"prototype":{"polluted":true}},"teamviewer":{"__proto__":{"polluted":true}}}');
    expect(() => loadConfig({ configFile: file, env: {}, platform: 'linux' })).not.toThrow(TypeError);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });
});
