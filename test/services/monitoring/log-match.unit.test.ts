import { describe, expect, it } from 'vitest';
import { LINE_MAX_CHARS, matchLines, splitLines } from '../../../src/services/monitoring/log-match.js';

const instant = { budgetMs: 1000, sliceMs: 10, now: () => 0, pause: async () => undefined };

describe('log lines', () => {
  it('takes whole lines only; a partial last line waits; a full read without a newline is skipped', () => {
    const text = Buffer.from('ok\nERROR disk\n\nfine\nERROR par');
    expect(splitLines(text, false)).toEqual({ lines: ['ok', 'ERROR disk', 'fine'], consumed: 'ok\nERROR disk\n\nfine\n'.length });
    expect(splitLines(Buffer.from('no newline yet'), false)).toEqual({ lines: [], consumed: 0 });
    expect(splitLines(Buffer.from('huge line'), true)).toEqual({ lines: [], consumed: 9 });
    expect(splitLines(Buffer.from('é\n'), false).consumed).toBe(3); // bytes, not characters
  });

  it('matches each line on its first LINE_MAX_CHARS characters', () => {
    const long = `${'x'.repeat(LINE_MAX_CHARS)}ERROR`;
    expect(splitLines(Buffer.from(`${long}\n`), false).lines[0]).toHaveLength(LINE_MAX_CHARS);
  });

  it('counts matches and keeps the last one (first 512 characters)', async () => {
    const r = await matchLines(['a ERROR', 'fine', `ERROR ${'y'.repeat(600)}`], /ERROR/, instant);
    expect(r).toMatchObject({ matches: 2, examined: 3 });
    expect(r.lastMatch).toHaveLength(512);
  });

  it('gives the event loop a turn after each slice and stops when the budget is spent', async () => {
    let clock = 0;
    let pauses = 0;
    const slow = { test: () => ((clock += 4), true) }; // 4 ms per line
    const r = await matchLines(Array(100).fill('x'), slow, { budgetMs: 40, sliceMs: 10, now: () => clock, pause: async () => void pauses++ });
    // Slices of 3 lines (12 ms >= 10 ms), a turn for the event loop after each; the 4th slice ends at 48 ms >= 40 ms.
    expect(r).toMatchObject({ examined: 12, matches: 12 });
    expect(pauses).toBe(3);
  });
});
