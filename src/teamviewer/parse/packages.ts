// Package manager answers on Linux: `dpkg -s NAME` (a control stanza) and `rpm -q NAME` (name-version-release).

export interface InstalledPackage {
  name: string;
  version: string | null;
}

/** `dpkg -s` stanza: installed only when Status ends in `installed` (not `config-files`). */
export function parseDpkgStatus(name: string, output: string): InstalledPackage | null {
  const field = (f: string) => new RegExp(`^${f}:\\s*(.*)$`, 'mi').exec(output)?.[1]?.trim() ?? null;
  const status = field('Status');
  if (!status || !/\binstalled$/.test(status) || /config-files|not-installed/.test(status)) return null;
  if ((field('Package') ?? name) !== name) return null;
  const version = field('Version');
  return { name, version: version ? version.replace(/^\d+:/, '').split('-')[0]! : null };
}

/** `rpm -q teamviewer` prints `teamviewer-15.48.4-0.x86_64`, or `package teamviewer is not installed`. */
export function parseRpmQuery(name: string, output: string): InstalledPackage | null {
  const line = output.split(/\r?\n/).map((l) => l.trim()).find((l) => l.startsWith(`${name}-`));
  if (!line || /not installed/.test(line)) return null;
  const m = /^(\d[^-]*)-/.exec(line.slice(name.length + 1));
  if (!m) return null;
  return { name, version: m[1]! };
}
