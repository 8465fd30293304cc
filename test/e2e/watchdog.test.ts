// The watchdog in the real daemon: over budget -> recorded, reported, exit 75 for the service manager;
// the next start backs off and says why in `status` instead of looping silently.
import { writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { agentHome, assertBuilt, AGENT_JS } from './harness.js';
import { spawnNode, waitUntil } from '../../src/cli/processes.js';

describe('watchdog in the daemon', () => {
  it('exits 75 when over its memory budget, then backs off with WATCHDOG_RESTARTS in status', async () => {
    assertBuilt();
    const home = await agentHome('watchdog', { RMAGENT_TEAMVIEWER_REQUIRED: 'false' });
    // 32 MiB is below any Node process: the first sample trips the budget.
    writeFileSync(home.env.RMAGENT_CONFIG!, JSON.stringify({ watchdog: { maxRssMb: 32, intervalSec: 1 } }));
    for (let run = 1; run <= 2; run++) {
      const proc = spawnNode(AGENT_JS, ['run'], home.env);
      const code = await new Promise<number | null>((resolve) => proc.child.once('exit', resolve));
      expect(code, proc.output()).toBe(75);
    }
    const history = JSON.parse(await readFile(path.join(home.stateDir, 'watchdog.json'), 'utf8')) as { restarts: Array<{ kind: string }> };
    expect(history.restarts).toEqual([expect.objectContaining({ kind: 'memory' }), expect.objectContaining({ kind: 'memory' })]);

    // The third start waits before working (a crash loop must not hog the device) and says why meanwhile.
    const second = spawnNode(AGENT_JS, ['run'], home.env);
    try {
      const status = await waitUntil(() => home.live(), 15_000, 'the backing-off daemon to answer');
      expect(status.problems.map((p) => p.code)).toContain('WATCHDOG_RESTARTS');
      expect(status.health).not.toBe('healthy');
      // A stop asked for while it still waits (start not finished) is a clean stop, not a kill by the signal, and
      // a prompt one: well within the 10 s backoff it interrupts.
      expect(await second.stop('SIGTERM', 5_000), second.output()).toBe(0);
    } finally {
      await second.stop('SIGKILL');
    }
  });
});
