// The logger as the single executable ships it: bundled with the stand-ins of installer/sea/shims (Node's own
// streams for readable-stream, a silent winston tracer). It must still write JSON lines, rotate and redact.
import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { build } from 'esbuild';
import { describe, expect, it } from 'vitest';

const root = path.resolve(import.meta.dirname, '../..');
const shimDir = path.join(root, 'installer/sea/shims');
const aliases = JSON.parse(readFileSync(path.join(shimDir, 'aliases.json'), 'utf8')) as Record<string, string>;

describe('the bundled logger (winston with the single executable shims)', () => {
  it('leaves the replaced packages out, writes JSON lines, rotates and redacts', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'rmagent-log-bundle-'));
    const entry = path.join(dir, 'entry.ts');
    writeFileSync(
      entry,
      `import { createLogger } from ${JSON.stringify(path.join(root, 'src/log.ts'))};
const logger = createLogger({ logDir: process.argv[2], console: false, maxSize: 4096, maxFiles: 50 });
logger.info('started');
setTimeout(async () => {
  for (let i = 0; i < 60; i++) {
    logger.info('enrolling', { token: 'tok-SECRET-1234567890', round: i });
    await new Promise((r) => setTimeout(r, 5));
  }
  logger.end();
  setTimeout(() => process.exit(0), 500);
}, 100);
`,
    );
    const out = path.join(dir, 'logger.cjs');
    const result = await build({
      entryPoints: [entry],
      bundle: true,
      platform: 'node',
      format: 'cjs',
      outfile: out,
      metafile: true,
      logLevel: 'silent',
      alias: Object.fromEntries(Object.entries(aliases).map(([pkg, file]) => [pkg, path.join(shimDir, file)])),
    });
    const inputs = Object.keys(result.metafile.inputs);
    expect(inputs.filter((f) => /node_modules\/(readable-stream|@dabh\/diagnostics)\//.test(f))).toEqual([]);
    expect(inputs.some((f) => f.includes('node_modules/winston/'))).toBe(true);

    const logDir = path.join(dir, 'logs');
    await promisify(execFile)(process.execPath, [out, logDir], { timeout: 20_000 });
    const files = readdirSync(logDir);
    expect(files.length).toBeGreaterThan(1); // rotated at 4 KB
    const lines = files.flatMap((f) => readFileSync(path.join(logDir, f), 'utf8').split('\n').filter(Boolean));
    const entries = lines.map((l) => JSON.parse(l) as { level: string; message: string; token?: string; round?: number; timestamp: string });
    expect(entries.filter((e) => e.message === 'enrolling').map((e) => e.round).sort((a, b) => a! - b!)).toEqual([...Array(60).keys()]);
    expect(entries.every((e) => e.level === 'info' && typeof e.timestamp === 'string')).toBe(true);
    expect(lines.join('\n')).not.toContain('SECRET');
  }, 30_000);
});
