// A local user must not read the agent's logs (they name devices, paths, servers and errors): a log folder
// the agent creates is 0700 and every file in it, rotated ones included, 0600, whatever the umask.
import { mkdtempSync, readdirSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { createLogger } from '../../src/log.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('log folder and file modes', () => {
  it('creates the folder 0700 and the files 0600 under a permissive umask, rotation included', async () => {
    const dir = path.join(mkdtempSync(path.join(tmpdir(), 'rmagent-logmodes-')), 'var', 'log', 'rmagent');
    const oldMask = process.umask(0o022);
    try {
      const logger = createLogger({ logDir: dir, console: false, maxSize: 2 * 1024, maxFiles: 5 });
      logger.info('started');
      await sleep(100); // a burst before the file is open stalls winston's rotation
      for (let i = 0; i < 30; i++) {
        logger.info('a line long enough to rotate the file after a few of them', { round: i, pad: 'x'.repeat(200) });
        await sleep(5);
      }
      await Promise.race([new Promise<void>((resolve) => logger.on('finish', () => resolve()).end()), sleep(3_000)]);
      await sleep(300);
    } finally {
      process.umask(oldMask);
    }
    expect(statSync(dir).mode & 0o777).toBe(0o700);
    const files = readdirSync(dir);
    expect(files.length).toBeGreaterThan(1);
    expect(files.map((f) => [f, statSync(path.join(dir, f)).mode & 0o777])).toEqual(files.map((f) => [f, 0o600]));
  });
});
