// Where log lines go on each platform (src/log.ts chooseLogTarget) and what a journal line and an Event Log entry look like.
import { describe, expect, it } from 'vitest';
import { chooseLogTarget, journalLine } from '../../src/log.js';
import { eventCreateArgs } from '../../src/system/event-log.js';

describe('log target', () => {
  it('follows RMAGENT_LOG_TARGET, else journald when systemd connected stderr to the journal, else the console', () => {
    expect(chooseLogTarget({ RMAGENT_LOG_TARGET: 'file', JOURNAL_STREAM: '8:1' })).toBe('file');
    expect(chooseLogTarget({ JOURNAL_STREAM: '8:1234' })).toBe('journald');
    expect(chooseLogTarget({})).toBe('console');
    expect(chooseLogTarget({ RMAGENT_LOG_TARGET: 'nonsense' })).toBe('console');
  });

  it('a journal line carries the syslog priority journalctl -p filters on, on one line', () => {
    expect(journalLine('error', 'boom', { code: 'X' })).toBe('<3>boom {"code":"X"}');
    expect(journalLine('warn', 'careful', {})).toBe('<4>careful');
    expect(journalLine('info', 'two\nlines', {})).toBe('<6>two lines');
    expect(journalLine('debug', 'x', {})).toBe('<7>x');
  });

  it('an Event Log entry is one argv per value (no shell), typed by level, with what was dropped', () => {
    expect(eventCreateArgs('error', 'disk "full" & more', 0)).toEqual(['/L', 'APPLICATION', '/SO', 'rmagent', '/T', 'ERROR', '/ID', '2', '/D', 'disk "full" & more']);
    const args = eventCreateArgs('warn', 'w', 3);
    expect(args.slice(5, 8)).toEqual(['WARNING', '/ID', '1']);
    expect(args[9]).toContain('3 earlier entries');
  });
});
