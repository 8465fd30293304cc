// Version strings as installs leave them: `"15.27.3 "` (trailing spaces), `"14.1.3399 HC"` (edition suffix).

export interface ParsedVersion {
  version: string | null;
  /** Whatever followed the dotted number, e.g. `HC`; kept for the record, never relied upon. */
  suffix: string | null;
}

export function parseVersion(raw: string | null | undefined): ParsedVersion {
  const text = (raw ?? '').trim();
  const m = /^v?(\d+(?:\.\d+){0,3})(?:[\s_-]+(.+))?$/i.exec(text);
  if (!m) return { version: null, suffix: null };
  return { version: m[1]!, suffix: m[2]?.trim() || null };
}
