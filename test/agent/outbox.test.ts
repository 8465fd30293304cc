// The outbox on real files: durable numbering across restarts, acknowledgement, overflow policy, quarantine.
import { mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { createOutbox } from '../../src/agent/outbox.js';
import { fixedClock } from '../../src/system/clock.js';
import { silentLogger } from '../../src/log.js';

const clock = fixedClock(1_700_000_000_000);
const newDir = () => path.join(mkdtempSync(path.join(tmpdir(), 'rmagent-outbox-')), 'outbox');
async function opened(dir: string, maxBytes = 1024 * 1024) {
  const outbox = createOutbox({ dir, maxBytes, clock, logger: silentLogger() });
  await outbox.open();
  return outbox;
}

describe('outbox', () => {
  it('numbers reports durably: pending oldest first, ack deletes, numbers never repeat after a restart', async () => {
    const dir = newDir();
    const a = await opened(dir);
    expect(await Promise.all([a.append('status', { n: 1 }), a.append('service', { n: 2 }), a.append('status', { n: 3 })])).toEqual([1, 2, 3]);
    expect((await a.pending()).map((r) => [r.seq, r.data.n])).toEqual([[1, 1], [2, 2], [3, 3]]);
    expect((await a.pending(2)).map((r) => r.seq)).toEqual([1, 2]);
    expect((await a.pending(1, 1)).map((r) => r.seq)).toEqual([2]);
    await a.ackUpTo(2);
    expect((await a.pending()).map((r) => r.seq)).toEqual([3]);
    expect(a.stats()).toMatchObject({ pending: 1, lastAckedSeq: 2, nextSeq: 4, oldestAt: clock.now() });

    const b = await opened(dir); // agent restart
    expect((await b.pending()).map((r) => r.seq)).toEqual([3]);
    await b.ackUpTo(3);
    const c = await opened(dir); // everything acknowledged: the counter still survives
    expect(await c.append('status', {})).toBe(4);
    expect(c.stats()).toMatchObject({ pending: 1, lastAckedSeq: 3 });
  });

  it('a server that already holds higher numbers moves the counter past them', async () => {
    const a = await opened(newDir());
    await a.ackUpTo(41);
    expect(await a.append('status', {})).toBe(42);
  });

  it('tells listeners after each append has reached disk', async () => {
    const dir = newDir();
    const a = await opened(dir);
    const heard: number[] = [];
    a.onAppend(() => heard.push(a.stats().pending));
    await a.append('status', {});
    await a.append('status', {});
    await new Promise((r) => setTimeout(r, 10));
    expect(heard).toEqual([1, 2]);
  });

  it('over budget drops the oldest non-alert reports and counts them; alerts are kept', async () => {
    const dir = newDir();
    const a = await opened(dir, 1500);
    const filler = { text: 'x'.repeat(300) };
    await a.append('alert.raised', { key: 'cpu', ...filler });
    for (let i = 0; i < 6; i++) await a.append('status', { i, ...filler });
    await a.append('alert.cleared', { key: 'cpu', ...filler });
    const kinds = (await a.pending()).map((r) => r.kind);
    expect(kinds[0]).toBe('alert.raised');
    expect(kinds.at(-1)).toBe('alert.cleared');
    expect(a.stats().bytes).toBeLessThanOrEqual(1500);
    expect(a.stats().dropped).toBeGreaterThan(0);
    const kept = (await a.pending()).filter((r) => r.kind === 'status').map((r) => r.data.i);
    expect(kept.length).toBeGreaterThan(0);
    expect(kept).toEqual([0, 1, 2, 3, 4, 5].slice(-kept.length)); // the newest snapshots survive
    expect((await opened(dir, 1500)).stats().dropped).toBe(a.stats().dropped); // the count survives a restart
  });

  it('a torn or corrupt report file is quarantined at open, the rest still delivered', async () => {
    const dir = newDir();
    const a = await opened(dir);
    await a.append('status', { n: 1 });
    await a.append('status', { n: 2 });
    writeFileSync(path.join(dir, '000000000001.json'), '{"seq":1,"kind":"sta');
    writeFileSync(path.join(dir, '.000000000003.json.abc.tmp'), 'half');
    const b = await opened(dir);
    expect((await b.pending()).map((r) => r.seq)).toEqual([2]);
    const files = readdirSync(dir);
    expect(files).toContain('000000000001.json.corrupt');
    expect(files.some((f) => f.endsWith('.tmp'))).toBe(false);
    expect(await b.append('status', {})).toBe(3);
  });
});
