// The replay guard on a real file: an accepted id is refused again after a restart; old ids are pruned.
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { createReplayGuard } from '../../src/agent/replay.js';
import { fixedClock } from '../../src/system/clock.js';

describe('replay guard', () => {
  it('remembers ids across a restart and prunes those older than the window', async () => {
    const file = path.join(mkdtempSync(path.join(tmpdir(), 'rmagent-replay-')), 'replay.json');
    const clock = fixedClock(1_000_000);
    const guard = createReplayGuard({ file, windowMs: 60_000, clock });
    await guard.open();
    expect(guard.seen('cmd-1')).toBe(false);
    await guard.remember('cmd-1', clock.now());
    expect(guard.seen('cmd-1')).toBe(true);

    const restarted = createReplayGuard({ file, windowMs: 60_000, clock });
    await restarted.open();
    expect(restarted.seen('cmd-1')).toBe(true);

    clock.advance(61_000);
    await restarted.remember('cmd-2', clock.now());
    expect(restarted.seen('cmd-1')).toBe(false);
    expect(readFileSync(file, 'utf8')).not.toContain('cmd-1');
  });

  it('a corrupt file is started afresh with the reason kept, not a crash', async () => {
    const file = path.join(mkdtempSync(path.join(tmpdir(), 'rmagent-replay-')), 'replay.json');
    writeFileSync(file, '{"v":1,"seen":');
    const guard = createReplayGuard({ file, windowMs: 60_000, clock: fixedClock(0) });
    await guard.open();
    expect(guard.problem()).toMatch(/JSON/);
    await guard.remember('a', 0);
    expect(JSON.parse(readFileSync(file, 'utf8'))).toEqual({ v: 1, seen: { a: 0 } });
  });
});
