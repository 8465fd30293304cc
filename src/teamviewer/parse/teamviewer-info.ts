// Output of `teamviewer info` on Linux: ANSI-bold lines with the version and packaging, the ID on the same
// line or the next, and noise such as `grep: .../global.conf: Permission denied` when run without root.

export interface TeamViewerInfo {
  version: string | null;
  packaging: string | null;
  teamviewerId: string | null;
  /** The command could not read TeamViewer's config (not root). */
  permissionDenied: boolean;
  /** From the `teamviewerd status` block when printed: true = active, false = inactive, null = absent. */
  daemonActive: boolean | null;
}

// eslint-disable-next-line no-control-regex
const ANSI = /\x1b\[[0-9;?]*[A-Za-z]/g;

export function stripAnsi(text: string): string {
  return text.replace(ANSI, '');
}

export function parseTeamViewerInfo(output: string): TeamViewerInfo {
  const lines = stripAnsi(output).split(/\r?\n/).map((l) => l.trim());
  const info: TeamViewerInfo = { version: null, packaging: null, teamviewerId: null, permissionDenied: false, daemonActive: null };
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    if (/permission denied/i.test(line)) info.permissionDenied = true;
    const idMatch = /^TeamViewer ID:\s*(\S*)/i.exec(line);
    if (idMatch) {
      // The ID may sit on the next non-empty line; never read past the next labelled line.
      const candidate = idMatch[1] || nextValue(lines, i);
      if (candidate && /^\d{1,20}$/.test(candidate)) info.teamviewerId = candidate;
      continue;
    }
    const versionMatch = /^TeamViewer\s+(\d+(?:\.\d+)+)\s*(?:\(([A-Za-z0-9]+)\))?/.exec(line);
    if (versionMatch && !info.version) {
      info.version = versionMatch[1]!;
      info.packaging = versionMatch[2] ?? null;
      continue;
    }
    const active = /^Active:\s*(active|inactive|failed|activating|deactivating)\b/i.exec(line);
    if (active) info.daemonActive = active[1]!.toLowerCase() === 'active';
  }
  return info;
}

// Scans forward without copying the rest of the lines (a copy per ID line was quadratic on long output).
function nextValue(lines: string[], i: number): string | null {
  for (let j = i + 1; j < lines.length; j++) {
    const next = lines[j]!;
    if (next.length === 0) continue;
    return /:/.test(next) ? null : next;
  }
  return null;
}
