import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isBinaryPlist, parsePlistXml, plistDecimal, plistDict, plistString } from '../../../src/teamviewer/parse/plist.js';

const doc = (body: string) => `<?xml version="1.0" encoding="UTF-8"?>\n<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "x">\n<plist version="1.0">\n<dict>${body}</dict>\n</plist>\n`;

describe('parsePlistXml', () => {
  it('reads the subset TeamViewer uses, with exact integers beyond 2^53', () => {
    const r = parsePlistXml(doc('<key>ClientID_64</key><integer>18446744073709551615</integer><key>Name</key><string>A &amp; B &#233;</string>'
      + '<key>On</key><true/><key>Off</key><false/><key>Ratio</key><real>0.5</real><key>Blob</key><data>AAEC</data>'
      + '<key>List</key><array><string>x</string><dict/><array/></array><key>Empty</key><string/><!-- note --><key>When</key><date>2026-01-01T00:00:00Z</date>'));
    expect(r.ok).toBe(true);
    const d = plistDict(r.ok ? r.value : undefined);
    expect(plistDecimal(d, 'ClientID_64')).toBe('18446744073709551615');
    expect(plistString(d, 'Name')).toBe('A & B é');
    expect(d).toMatchObject({ On: true, Off: false, Ratio: 0.5, List: ['x', {}, []], Empty: '', When: '2026-01-01T00:00:00Z' });
    expect([...(d!.Blob as Uint8Array)]).toEqual([0, 1, 2]);
  });

  it('reports truncated or malformed XML as a reason, not an exception', () => {
    expect(parsePlistXml(doc('<key>A</key><string>unterminated')).ok).toBe(false);
    expect(parsePlistXml(doc('<key>A</key>')).ok).toBe(false);
    expect(parsePlistXml(doc('<key>A</key><integer>12x</integer>')).ok).toBe(false);
    expect(parsePlistXml('')).toEqual({ ok: false, reason: 'no plist value' });
  });

  it('tells binary plists apart', () => {
    expect(isBinaryPlist('bplist00\u00d1')).toBe(true);
    expect(isBinaryPlist('<?xml')).toBe(false);
  });

  it('never throws on arbitrary text', () => {
    fc.assert(fc.property(fc.string({ maxLength: 200 }), (s) => {
      expect(() => parsePlistXml(doc(s))).not.toThrow();
    }));
  });
});
