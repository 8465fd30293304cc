// A small reader for the XML property-list subset TeamViewer's files use: dict, array, string, integer,
// real, true/false, date, data. Integers stay exact (bigint): TeamViewer IDs can exceed 32 bits.
// Binary plists are converted to XML by `plutil` before they reach this reader.

export type PlistValue = string | bigint | number | boolean | Uint8Array | PlistValue[] | { [key: string]: PlistValue };

export type PlistResult = { ok: true; value: PlistValue } | { ok: false; reason: string };

const TOKEN = /<(\/?)([A-Za-z]+)\s*(\/?)>|<\?[^>]*\?>|<!DOCTYPE[^>]*>|<!--[\s\S]*?-->|<plist[^>]*>/g;

interface Cursor {
  text: string;
  pos: number;
}

export function isBinaryPlist(text: string): boolean {
  return text.startsWith('bplist');
}

export function parsePlistXml(text: string): PlistResult {
  const cursor: Cursor = { text, pos: 0 };
  try {
    const tag = nextTag(cursor);
    if (!tag || tag.close) return { ok: false, reason: 'no plist value' };
    return { ok: true, value: readValue(cursor, tag.name, tag.empty) };
  } catch (err) {
    return { ok: false, reason: (err as Error).message };
  }
}

function nextTag(c: Cursor): { name: string; close: boolean; empty: boolean } | null {
  TOKEN.lastIndex = c.pos;
  for (let m = TOKEN.exec(c.text); m; m = TOKEN.exec(c.text)) {
    c.pos = TOKEN.lastIndex;
    if (m[2] === undefined || m[2] === 'plist') continue;
    return { name: m[2], close: m[1] === '/', empty: m[3] === '/' };
  }
  return null;
}

function readText(c: Cursor, name: string): string {
  const end = c.text.indexOf(`</${name}>`, c.pos);
  if (end < 0) throw new Error(`unclosed <${name}>`);
  const raw = c.text.slice(c.pos, end);
  c.pos = end + name.length + 3;
  return decodeEntities(raw);
}

function readValue(c: Cursor, name: string, empty: boolean): PlistValue {
  switch (name) {
    case 'true':
    case 'false':
      if (!empty) readText(c, name);
      return name === 'true';
    case 'string':
    case 'date':
      return empty ? '' : readText(c, name);
    case 'integer': {
      const t = empty ? '' : readText(c, name).trim();
      if (!/^[+-]?\d+$/.test(t)) throw new Error(`bad integer "${t}"`);
      return BigInt(t);
    }
    case 'real':
      return Number(empty ? 'NaN' : readText(c, name).trim());
    case 'data':
      return empty ? new Uint8Array() : Uint8Array.from(Buffer.from(readText(c, name).replace(/\s/g, ''), 'base64'));
    case 'array':
      return empty ? [] : readArray(c);
    case 'dict':
      return empty ? {} : readDict(c);
    default:
      throw new Error(`unexpected <${name}>`);
  }
}

function readArray(c: Cursor): PlistValue[] {
  const items: PlistValue[] = [];
  for (let tag = nextTag(c); tag; tag = nextTag(c)) {
    if (tag.close) {
      if (tag.name !== 'array') throw new Error(`unexpected </${tag.name}>`);
      return items;
    }
    items.push(readValue(c, tag.name, tag.empty));
  }
  throw new Error('unclosed <array>');
}

function readDict(c: Cursor): { [key: string]: PlistValue } {
  const dict: { [key: string]: PlistValue } = {};
  for (let tag = nextTag(c); tag; tag = nextTag(c)) {
    if (tag.close) {
      if (tag.name !== 'dict') throw new Error(`unexpected </${tag.name}>`);
      return dict;
    }
    if (tag.name !== 'key') throw new Error(`expected <key>, got <${tag.name}>`);
    const key = readText(c, 'key');
    const valueTag = nextTag(c);
    if (!valueTag || valueTag.close) throw new Error(`no value for key "${key}"`);
    dict[key] = readValue(c, valueTag.name, valueTag.empty);
  }
  throw new Error('unclosed <dict>');
}

function decodeEntities(s: string): string {
  return s.replace(/&(lt|gt|amp|quot|apos|#\d+|#x[0-9a-f]+);/gi, (_, e: string) => {
    const named: Record<string, string> = { lt: '<', gt: '>', amp: '&', quot: '"', apos: "'" };
    if (e[0] !== '#') return named[e.toLowerCase()]!;
    return String.fromCodePoint(e[1] === 'x' || e[1] === 'X' ? parseInt(e.slice(2), 16) : parseInt(e.slice(1), 10));
  });
}

export function plistDict(value: PlistValue | undefined): { [key: string]: PlistValue } | null {
  return value && typeof value === 'object' && !Array.isArray(value) && !(value instanceof Uint8Array) ? value : null;
}

export function plistString(dict: { [key: string]: PlistValue } | null, key: string): string | null {
  const v = dict?.[key];
  return typeof v === 'string' ? v : null;
}

/** An integer (or digit string) as a decimal string, exact beyond 2^53. */
export function plistDecimal(dict: { [key: string]: PlistValue } | null, key: string): string | null {
  const v = dict?.[key];
  if (typeof v === 'bigint') return v >= 0n ? v.toString() : null;
  if (typeof v === 'string' && /^\d{1,20}$/.test(v.trim())) return v.trim();
  return null;
}
