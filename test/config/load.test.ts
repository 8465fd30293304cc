import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load.js';
import { defaultPaths } from '../../src/config/paths.js';
import { RmError } from '../../src/protocol/errors.js';

const dir = mkdtempSync(path.join(tmpdir(), 'rmagent-config-'));
const file = (name: string, content: string) => {
  const p = path.join(dir, name);
  writeFileSync(p, content);
  return p;
};

function errorOf(fn: () => unknown): RmError {
  try {
    fn();
  } catch (err) {
    return err as RmError;
  }
  throw new Error('expected an error');
}

describe('loadConfig', () => {
  it('uses the platform defaults when nothing is given', () => {
    const { config, ipcPath } = loadConfig({ env: {}, platform: 'linux', configFile: undefined });
    expect(config.stateDir).toBe('/var/lib/rmagent');
    expect(config.logDir).toBe('/var/log/rmagent');
    expect(config.teamviewer.root).toBe('/');
    expect(config.connection.heartbeatSec).toBe(30);
    expect(ipcPath).toBe('/var/lib/rmagent/rmagent.sock');
  });

  it('layers file < environment < flags', () => {
    const cfg = file('layers.json', JSON.stringify({ stateDir: '/from/file', logLevel: 'warn', teamviewer: { root: '/file-root', detectIntervalSec: 60 } }));
    const { config } = loadConfig({
      configFile: cfg,
      env: { RMAGENT_LOG_LEVEL: 'debug', RMAGENT_TEAMVIEWER_ROOT: '/env-root', RMAGENT_ALLOW_INSECURE: 'true' },
      flags: { 'teamviewer.root': '/flag-root' },
    });
    expect(config.stateDir).toBe('/from/file');
    expect(config.logLevel).toBe('debug');
    expect(config.teamviewer).toMatchObject({ root: '/flag-root', detectIntervalSec: 60 });
    expect(config.connection.allowInsecure).toBe(true);
  });

  it('names the key, the value and what is allowed when a value is invalid', () => {
    const cfg = file('bad.json', JSON.stringify({ stateDir: '/s', connection: { heartbeatSec: 0 } }));
    const err = errorOf(() => loadConfig({ configFile: cfg, env: {} }));
    expect(err.code).toBe('CONFIG_INVALID');
    expect(err.message).toContain('connection.heartbeatSec=0');
    expect(err.message).toMatch(/>=\s*1|too small/i);
    expect(err.hint).toMatch(/Fix the named key/);
  });

  it('rejects unknown keys, bad env values, a missing explicit file and non-JSON', () => {
    expect(errorOf(() => loadConfig({ configFile: file('unknown.json', '{"stateDri":"/x"}'), env: {} })).message).toMatch(/stateDri/);
    expect(errorOf(() => loadConfig({ env: { RMAGENT_HEARTBEAT_SEC: 'soon' }, platform: 'linux' })).message).toContain('RMAGENT_HEARTBEAT_SEC="soon"');
    expect(errorOf(() => loadConfig({ configFile: path.join(dir, 'nope.json'), env: {} })).code).toBe('CONFIG_UNREADABLE');
    expect(errorOf(() => loadConfig({ configFile: file('broken.json', '{"stateDir":'), env: {} })).code).toBe('CONFIG_UNREADABLE');
  });

  it('ignores prototype-pollution keys in the file', () => {
    const cfg = file('proto.json', '{"stateDir":"/s","__proto__":{"polluted":true}}');
    loadConfig({ configFile: cfg, env: {} });
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('knows the Windows and macOS locations', () => {
    expect(defaultPaths('win32', { ProgramData: 'C:\\ProgramData' }).configFile).toBe('C:\\ProgramData\\rmagent\\config.json');
    expect(defaultPaths('darwin', {}).logDir).toBe('/Library/Logs/rmagent');
  });
});
