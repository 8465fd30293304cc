// The replay journal's pure decisions: reading lines back (torn and garbled ones), and when to compact.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { journalLine, journalPathOf, needsCompaction, parseJournal } from '../../src/agent/replay.js';

const idArb = fc.stringMatching(/^[A-Za-z0-9._:-]{1,40}$/);

describe('parseJournal', () => {
  it('reads every whole line back, the latest timestamp of an id winning', () => {
    const text = [journalLine('a', 1), journalLine('b', 2), journalLine('a', 5)].map((l) => `${l}\n`).join('');
    expect(parseJournal(text)).toEqual({ seen: new Map([['a', 5], ['b', 2]]), skipped: 0 });
  });

  it('drops a torn last line without counting it, keeps a whole one that only lacks its newline', () => {
    const whole = `${journalLine('a', 1)}\n${journalLine('b', 2)}\n`;
    expect(parseJournal(`${whole}{"id":"c","t`)).toEqual({ seen: new Map([['a', 1], ['b', 2]]), skipped: 0 });
    expect(parseJournal(`${whole}\0\0\0\0`).skipped).toBe(0);
    expect(parseJournal(`${whole}${journalLine('c', 3)}`).seen.get('c')).toBe(3);
  });

  it('skips and counts garbled lines and entries that do not match the schema', () => {
    const lines = [journalLine('a', 1), '{"id":"b","ts":2', 'garbage', '{"id":"bad id","ts":1}', '{"id":"c","ts":-1}', '{"id":"d","ts":1,"x":1}', '[]', journalLine('e', 4)];
    const parsed = parseJournal(`${lines.join('\n')}\n`);
    expect([...parsed.seen.keys()]).toEqual(['a', 'e']);
    expect(parsed.skipped).toBe(6);
  });

  it('property: whole lines survive any garbage written between and after them', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(idArb, fc.nat(), fc.option(fc.string({ maxLength: 30 }))), { maxLength: 50 }), fc.string({ maxLength: 30 }), (entries, tail) => {
        const text = entries.map(([id, ts, junk]) => `${journalLine(id, ts)}\n${junk === null ? '' : `${junk.replace(/\n/g, '')}\n`}`).join('') + tail.replace(/\n/g, '');
        const { seen } = parseJournal(text);
        for (const [id, ts] of entries) expect(seen.get(id)).toBeGreaterThanOrEqual(ts);
      }),
      { numRuns: 200 },
    );
  });
});

describe('compaction and file names', () => {
  it('compacts only when the journal holds far more lines than live ids', () => {
    expect(needsCompaction(1_000, 0)).toBe(false);
    expect(needsCompaction(1_001, 0)).toBe(true);
    expect(needsCompaction(31_000, 15_000)).toBe(false);
    expect(needsCompaction(31_001, 15_000)).toBe(true);
  });

  it('the journal sits next to the replay.json it replaces', () => {
    expect(journalPathOf('/var/lib/rmagent/replay.json')).toBe('/var/lib/rmagent/replay.jsonl');
  });
});
