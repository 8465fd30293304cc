// Pure parsers of pending-update listings: apt, dnf/yum, softwareupdate and the Windows Update query.
// Severity is taken from what the source says: apt/dnf security pockets/repos, Windows MsrcSeverity,
// softwareupdate's "Recommended" flag; otherwise 'unspecified'.
// The shapes are the patches report's (protocol/report-data.ts).
import { UPDATE_SEVERITIES, type PendingUpdate, type UpdateSeverity } from '../../protocol/report-data.js';

export { UPDATE_SEVERITIES };
export type { PendingUpdate, UpdateSeverity };

const cut = (s: string, n = 512) => s.trim().slice(0, n);

/** `apt list --upgradable`: `bash/jammy-updates,jammy-security 5.1-6ubuntu1.1 amd64 [upgradable from: 5.1-6ubuntu1]` */
export function parseAptUpgradable(text: string): PendingUpdate[] {
  const updates: PendingUpdate[] = [];
  for (const line of text.split('\n')) {
    const m = /^([^\s/]+)\/(\S+)\s+(\S+)\s+(\S+)(?:\s+\[upgradable from:\s*([^\]]+)\])?/.exec(line.trim());
    if (!m) continue;
    const [, name, pockets, version, arch, from] = m as unknown as [string, string, string, string, string, string | undefined];
    updates.push({
      name: cut(name),
      version: cut(version),
      arch: cut(arch),
      origin: cut(pockets),
      severity: pockets.split(',').some((p) => /-security$|^security$/.test(p)) ? 'security' : 'unspecified',
      ...(from ? { from: cut(from) } : {}),
    });
  }
  return updates;
}

/**
 * `dnf -q check-update` / `yum check-update`: `name.arch  version  repo` lines (a long name wraps onto
 * its own line), then an "Obsoleting Packages" section that is not a list of updates.
 */
export function parseDnfCheckUpdate(text: string): PendingUpdate[] {
  const updates: PendingUpdate[] = [];
  let carry = '';
  for (const raw of text.split('\n')) {
    if (/^Obsoleting Packages/i.test(raw.trim())) break;
    const tokens = `${carry} ${raw}`.trim().split(/\s+/).filter(Boolean);
    carry = '';
    if (tokens.length === 1 && /\.[A-Za-z0-9_]+$/.test(tokens[0]!) && !raw.startsWith(' ')) {
      carry = tokens[0]!;
      continue;
    }
    if (tokens.length !== 3) continue;
    const [nameArch, version, repo] = tokens as [string, string, string];
    const dot = nameArch.lastIndexOf('.');
    if (dot <= 0 || !/^\d|:/.test(version)) continue;
    updates.push({ name: cut(nameArch.slice(0, dot)), arch: cut(nameArch.slice(dot + 1)), version: cut(version), origin: cut(repo), severity: /security/i.test(repo) ? 'security' : 'unspecified' });
  }
  return updates;
}

/**
 * `softwareupdate -l` (macOS 10.15+): `* Label: X` followed by `Title: T, Version: V, Size: S, Recommended: YES, Action: restart,`.
 * The older two-line form (`* X` then `T (V), SIZE [recommended] [restart]`) is read too.
 */
export function parseSoftwareUpdateList(text: string): PendingUpdate[] {
  const updates: PendingUpdate[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const star = /^\s*\*\s+(?:Label:\s*)?(.+)$/.exec(lines[i]!);
    if (!star) continue;
    const label = star[1]!.trim();
    const detail = lines[i + 1] ?? '';
    const field = (k: string) => new RegExp(`${k}:\\s*([^,]*)`).exec(detail)?.[1]?.trim() ?? '';
    const oldForm = /\(([^)]+)\)/.exec(detail);
    const recommended = /Recommended:\s*YES/i.test(detail) || /\[recommended\]/i.test(detail);
    const title = field('Title') || detail.trim();
    updates.push({
      name: cut(label),
      version: cut(field('Version') || oldForm?.[1] || ''),
      origin: cut(title),
      severity: /security/i.test(title) ? 'security' : recommended ? 'recommended' : 'unspecified',
      restart: /Action:\s*restart/i.test(detail) || /\[restart\]/i.test(detail),
    });
  }
  return updates;
}

/** The JSON printed by the Windows Update query in system/packages.ts (one object or an array). */
// The query prints strings; anything else (a nested array would overflow String()) counts as empty.
const scalar = (v: unknown): string => (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean' ? String(v) : '');

export function parseWindowsUpdateJson(text: string): PendingUpdate[] {
  const trimmed = text.trim();
  if (!trimmed) return [];
  let raw: unknown;
  try {
    raw = JSON.parse(trimmed);
  } catch {
    return [];
  }
  const rows = (Array.isArray(raw) ? raw : [raw]).filter((r): r is Record<string, unknown> => !!r && typeof r === 'object');
  return rows
    .filter((r) => typeof r.Title === 'string' && r.Title)
    .map((r) => {
      const severity = scalar(r.MsrcSeverity).toLowerCase();
      const kb = scalar(r.KB);
      const version = /Version\s+([\d.]+)/i.exec(scalar(r.Title))?.[1] ?? '';
      return {
        name: cut(scalar(r.Title)),
        version,
        severity: (UPDATE_SEVERITIES as readonly string[]).includes(severity) ? (severity as UpdateSeverity) : /security/i.test(scalar(r.Categories)) ? 'security' : 'unspecified',
        origin: cut([kb ? `KB${kb}` : '', scalar(r.Categories)].filter(Boolean).join(' ')),
        restart: r.RebootRequired === true,
      };
    });
}
