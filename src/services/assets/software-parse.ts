// Pure parsers of installed-software listings: dpkg-query, rpm -qa, `reg query ... /s` of the
// Uninstall keys, and app bundles' Info.plist. Each takes the raw text and returns plain items.
import path from 'node:path';
import type { SoftwareItem } from '../../protocol/report-data.js';

/** One installed program, as the inventory report carries it (protocol/report-data.ts). */
export type { SoftwareItem };

const clean = (s: string | undefined) => (s ?? '').trim().slice(0, 512);

/** `dpkg-query -W -f='${Package}\t${Version}\t${Architecture}\t${db:Status-Status}\t${Maintainer}\n'` */
export function parseDpkgQuery(text: string): SoftwareItem[] {
  const items: SoftwareItem[] = [];
  for (const line of text.split('\n')) {
    const [name, version, arch, status, maintainer] = line.split('\t');
    if (!name?.trim() || !version?.trim()) continue;
    // Removed packages keep their config files ('config-files') and are not installed software.
    if (status !== undefined && status.trim() !== '' && status.trim() !== 'installed') continue;
    items.push({ name: clean(name), version: clean(version), source: 'dpkg', ...(arch?.trim() ? { arch: clean(arch) } : {}), ...(maintainer?.trim() ? { publisher: clean(maintainer) } : {}) });
  }
  return items;
}

/** `rpm -qa --queryformat '%{NAME}\t%{VERSION}-%{RELEASE}\t%{ARCH}\t%{VENDOR}\n'` */
export function parseRpmQa(text: string): SoftwareItem[] {
  const items: SoftwareItem[] = [];
  for (const line of text.split('\n')) {
    const [name, version, arch, vendor] = line.split('\t');
    if (!name?.trim() || !version?.trim() || name === 'gpg-pubkey') continue;
    const a = clean(arch);
    const v = clean(vendor);
    items.push({ name: clean(name), version: clean(version), source: 'rpm', ...(a && a !== '(none)' ? { arch: a } : {}), ...(v && v !== '(none)' ? { publisher: v } : {}) });
  }
  return items;
}

/**
 * `reg query <Uninstall key> /s`: one block per sub-key, values as `    Name    REG_TYPE    data`.
 * Entries without DisplayName, system components and updates of other entries are not programs.
 */
export function parseRegUninstall(text: string, arch?: string): SoftwareItem[] {
  const items: SoftwareItem[] = [];
  let key: string | null = null;
  let values: Record<string, string> = {};
  const flush = () => {
    if (key && values.DisplayName && values.SystemComponent !== '0x1' && !values.ParentKeyName && !/^(Update|Hotfix|Security Update)$/i.test(values.ReleaseType ?? '')) {
      items.push({
        name: clean(values.DisplayName),
        version: clean(values.DisplayVersion),
        source: 'reg',
        id: clean(key.split('\\').pop()),
        ...(values.Publisher ? { publisher: clean(values.Publisher) } : {}),
        ...(arch ? { arch } : {}),
      });
    }
    values = {};
  };
  for (const raw of text.split(/\r?\n/)) {
    if (/^HKEY_/i.test(raw)) {
      flush();
      key = raw.trim();
      continue;
    }
    const m = /^ {4}(.+?) {4}(REG_[A-Z_]+)(?: {4}(.*))?$/.exec(raw);
    if (m) values[m[1]!] = m[3] ?? '';
  }
  flush();
  return items;
}

const XML_ENTITIES: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };
const unescapeXml = (s: string) => s.replace(/&(amp|lt|gt|quot|apos);/g, (_, e: string) => XML_ENTITIES[e]!);

/** An app bundle's Info.plist (XML form); `bundlePath` is …/Name.app/Contents/Info.plist. */
export function parseInfoPlist(xml: string, bundlePath: string): SoftwareItem | null {
  const get = (key: string) => {
    const m = new RegExp(`<key>${key}</key>\\s*<string>([^<]*)</string>`).exec(xml);
    return m ? unescapeXml(m[1]!).trim() : '';
  };
  if (!xml.includes('<plist')) return null;
  const folderName = path.posix.basename(path.posix.dirname(path.posix.dirname(bundlePath.replaceAll('\\', '/')))).replace(/\.app$/, '');
  const name = get('CFBundleDisplayName') || get('CFBundleName') || folderName;
  if (!name) return null;
  const id = get('CFBundleIdentifier');
  const publisher = get('NSHumanReadableCopyright');
  return {
    name: clean(name),
    version: clean(get('CFBundleShortVersionString') || get('CFBundleVersion')),
    source: 'app',
    ...(id ? { id: clean(id) } : {}),
    ...(publisher ? { publisher: clean(publisher) } : {}),
  };
}
