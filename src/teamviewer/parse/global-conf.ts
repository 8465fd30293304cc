// TeamViewer's Linux config file: lines `[<type>] <Name> = <value>`, e.g. `[int32] ClientID = 1234567890`
// or `[strng] Names = "a" "b"`. Unknown or malformed lines are skipped, never fatal.

export type GlobalConfValue = { type: string; raw: string; strings: string[] };

export interface GlobalConf {
  entries: Record<string, GlobalConfValue>;
  /** Non-empty lines that did not look like an entry (a file with only these is corrupt). */
  skipped: number;
}

const ENTRY = /^\s*\[([A-Za-z0-9_]+)\]\s+([^=]+?)\s*=\s*(.*?)\s*$/;
const QUOTED = /"((?:[^"\\]|\\.)*)"/g;

export function parseGlobalConf(text: string): GlobalConf {
  const entries: Record<string, GlobalConfValue> = {};
  let skipped = 0;
  for (const line of text.split(/\r?\n/)) {
    if (!line.trim()) continue;
    const m = ENTRY.exec(line);
    if (!m) {
      skipped++;
      continue;
    }
    const [, type, name, raw] = m as unknown as [string, string, string, string];
    const strings = [...raw.matchAll(QUOTED)].map((q) => q[1]!.replace(/\\(.)/g, '$1'));
    entries[name] = { type, raw, strings };
  }
  return { entries, skipped };
}

/** A decimal integer entry (`[int32]`, `[int64]`) as a string of digits, or null. */
export function globalConfInteger(conf: GlobalConf, name: string): string | null {
  const raw = conf.entries[name]?.raw.trim();
  return raw && /^\d{1,20}$/.test(raw) ? raw.replace(/^0+(?=\d)/, '') : null;
}

export function globalConfString(conf: GlobalConf, name: string): string | null {
  const entry = conf.entries[name];
  if (!entry) return null;
  return entry.strings[0] ?? (entry.raw || null);
}
