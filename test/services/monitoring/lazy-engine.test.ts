// The idle footprint: the regex engine (re2js) is loaded with the first log check's pattern, never by an agent whose
// policies have none (docs/policies.md).
import { describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { tempDir } from './harness.js';

const run = promisify(execFile);

describe('the log pattern engine', () => {
  it('is not loaded by the daemon\'s modules nor by checks without a log check; it is with one', async () => {
    const dir = await tempDir();
    const build = (p: string) => JSON.stringify(path.resolve('build/src', p));
    const script = `
      const { registerHooks } = await import('node:module');
      const loaded = new Set();
      registerHooks({ resolve(specifier, context, next) { const r = next(specifier, context); if (r.url.includes('/re2js/')) loaded.add(r.url); return r; } });
      await import(${build('cli/run.js')});
      const { createMonitoringService } = await import(${build('services/monitoring/service.js')});
      const { createCommandRunner } = await import(${build('system/exec.js')});
      const { silentLogger } = await import(${build('log.js')});
      const { MonitoringPolicySchema } = await import(${build('protocol/policies/monitoring.js')});
      const s = createMonitoringService({ report: async () => {}, stateDir: ${JSON.stringify(dir)}, logger: silentLogger(), runner: createCommandRunner(), clock: { now: () => Date.now() } });
      const apply = (checks) => s.apply({ id: 'p', name: 'p', service: 'monitoring', version: 1, settings: { checks } }, MonitoringPolicySchema.parse({ checks }));
      await apply([{ type: 'cpu', id: 'c', durationSec: 1, intervalSec: 1 }, { type: 'memory', id: 'm' }, { type: 'disk', id: 'd', threshold: 99 }, { type: 'process', id: 'p', names: ['x'] }]);
      await new Promise((r) => setTimeout(r, 1500));
      const before = loaded.size;
      await apply([{ type: 'log', id: 'l', path: ${JSON.stringify(path.join(dir, 'x.log'))}, pattern: 'ERROR', intervalSec: 1 }]);
      await new Promise((r) => setTimeout(r, 500));
      await s.stop();
      console.log(JSON.stringify({ before, after: loaded.size }));`;
    const { stdout } = await run(process.execPath, ['--input-type=module', '-e', script], { timeout: 30_000 });
    expect(JSON.parse(stdout.trim().split('\n').at(-1)!)).toEqual({ before: 0, after: 1 });
  });
});
