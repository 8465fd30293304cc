import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { globalConfInteger, globalConfString, parseGlobalConf } from '../../../src/teamviewer/parse/global-conf.js';

describe('parseGlobalConf', () => {
  it('reads typed entries, several quoted strings, and skips unknown lines', () => {
    const conf = parseGlobalConf('[int32] ClientID = 1234567890\r\n[strng] Names = "a b" "c\\"d"\nnot an entry\n\n[int64] Big = 12345678901234\n');
    expect(globalConfInteger(conf, 'ClientID')).toBe('1234567890');
    expect(conf.entries.Names?.strings).toEqual(['a b', 'c"d']);
    expect(globalConfString(conf, 'Names')).toBe('a b');
    expect(globalConfInteger(conf, 'Big')).toBe('12345678901234');
    expect(conf.skipped).toBe(1);
  });

  it('gives no ID for a missing or non-numeric ClientID', () => {
    expect(globalConfInteger(parseGlobalConf('[int32] Other = 1\n'), 'ClientID')).toBeNull();
    expect(globalConfInteger(parseGlobalConf('[int32] ClientID = 12ab\n'), 'ClientID')).toBeNull();
  });

  it('never throws, whatever the file holds', () => {
    fc.assert(fc.property(fc.string({ maxLength: 300 }), (text) => {
      expect(() => parseGlobalConf(text)).not.toThrow();
    }));
  });
});
