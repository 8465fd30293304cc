// docs/protocol.md "Test vectors" is what the code produces, and the vectors hold up on their own: each signature
// verifies over its signature input with the listed public key, and the canonical form follows RFC 8785.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseFrame } from '../../src/protocol/frames.js';
import { canonicalJson, signedBytes, verifyBytes } from '../../src/protocol/sign.js';
import { protocolVectors, vectorsMarkdown } from './vectors.js';

const doc = readFileSync(path.resolve(import.meta.dirname, '../../docs/protocol.md'), 'utf8');

describe('protocol test vectors', () => {
  it('docs/protocol.md prints exactly the vectors the code makes', () => {
    const block = /<!-- BEGIN VECTORS[^>]*-->\n([\s\S]*?)\n<!-- END VECTORS -->/.exec(doc)?.[1];
    expect(block, 'paste vectorsMarkdown() between the VECTORS markers').toBe(vectorsMarkdown());
  });

  it('each frame parses, its signature input is the canonical JSON of what was parsed, and its sig verifies', () => {
    const v = protocolVectors();
    const signer: Record<string, string> = { 'server.hello': v.keys.server.publicKey, welcome: v.keys.server.publicKey, desired: v.keys.server.publicKey, auth: v.keys.device.publicKey };
    for (const [name, f] of Object.entries(v.frames)) {
      const parsed = parseFrame(f.wire);
      expect(parsed.ok, name).toBe(true);
      if (!parsed.ok) continue;
      expect(signedBytes(parsed.frame).toString('utf8'), name).toBe(f.signedBytes);
      if (f.sig) {
        expect(verifyBytes(signer[name]!, Buffer.from(f.signedBytes, 'utf8'), f.sig), name).toBe(true);
        expect(verifyBytes(v.keys.device.publicKey === signer[name] ? v.keys.server.publicKey : v.keys.device.publicKey, Buffer.from(f.signedBytes, 'utf8'), f.sig), `${name} with the other key`).toBe(false);
      }
    }
    expect(verifyBytes(v.keys.server.publicKey, Buffer.from(v.endorsement.bytes, 'utf8'), v.endorsement.sig)).toBe(true);
  });

  it('the canonical form follows RFC 8785: UTF-16 key order, ECMAScript numbers, no whitespace', () => {
    expect(canonicalJson(JSON.parse('{"b":1,"B":2,"a":[0.5,1e21,-0,100],"é":"\\u20ac"}'))).toBe('{"B":2,"a":[0.5,1e+21,0,100],"b":1,"é":"€"}');
    // RFC 8785 section 3.2.3 sorting example (keys compared as UTF-16 code units).
    const rfc = { '\u20ac': 'Euro Sign', '\r': 'Carriage Return', '\ufb33': 'Hebrew Letter Dalet With Dagesh', '1': 'One', '\ud83d\ude00': 'Emoji: Grinning Face', '\u0080': 'Control', '\u00f6': 'Latin Small Letter O With Diaeresis' };
    expect(canonicalJson(rfc)).toBe('{"\\r":"Carriage Return","1":"One","\u0080":"Control","ö":"Latin Small Letter O With Diaeresis","€":"Euro Sign","\ud83d\ude00":"Emoji: Grinning Face","\ufb33":"Hebrew Letter Dalet With Dagesh"}');
    // RFC 8785 appendix B numbers.
    expect(canonicalJson([1e30, 4.5, 0.002, 1e-27, 333333333.3333333, -5e-324, 9007199254740991])).toBe('[1e+30,4.5,0.002,1e-27,333333333.3333333,-5e-324,9007199254740991]');
  });
});
