// Text output of Windows `reg query KEY /s`: a key line (`HKEY_LOCAL_MACHINE\SOFTWARE\TeamViewer`), then its
// values indented by four spaces as `Name    REG_TYPE    data`. Data keeps trailing spaces (they are real).

export type RegValue =
  | { type: 'REG_SZ' | 'REG_EXPAND_SZ'; data: string }
  | { type: 'REG_MULTI_SZ'; data: string[] }
  | { type: 'REG_DWORD' | 'REG_QWORD'; data: bigint }
  | { type: 'REG_BINARY'; data: Uint8Array }
  | { type: 'OTHER'; data: string };

export interface RegKey {
  /** Short form: `HKLM\SOFTWARE\TeamViewer`. */
  path: string;
  values: Record<string, RegValue>;
}

const HIVES: Record<string, string> = { HKEY_LOCAL_MACHINE: 'HKLM', HKEY_CURRENT_USER: 'HKCU', HKEY_USERS: 'HKU', HKEY_CLASSES_ROOT: 'HKCR' };
// The name starts with a non-space so the indentation cannot be split two ways (a long run of spaces was quadratic).
const VALUE_LINE = /^ {2,}(\S.*?) {4}(REG_[A-Z_0-9]+)(?: {4}(.*))?$/;

export function normalizeKeyPath(key: string): string {
  const [hive = '', ...rest] = key.split('\\');
  return [HIVES[hive.toUpperCase()] ?? hive.toUpperCase(), ...rest].join('\\');
}

export function parseRegQuery(output: string): RegKey[] {
  const keys: RegKey[] = [];
  let current: RegKey | null = null;
  for (const line of output.split(/\r?\n/)) {
    if (/^HKEY_[A-Z_]+/i.test(line) || /^HK(LM|CU|U|CR)\\/i.test(line)) {
      current = { path: normalizeKeyPath(line.trim()), values: Object.create(null) as Record<string, RegValue> };  // a value named __proto__ stays a value
      keys.push(current);
      continue;
    }
    const m = VALUE_LINE.exec(line);
    if (!m || !current) continue;
    const [, name, type, data = ''] = m as unknown as [string, string, string, string | undefined];
    current.values[name.trim()] = regValue(type, data);
  }
  return keys;
}

function regValue(type: string, data: string): RegValue {
  switch (type) {
    case 'REG_SZ':
    case 'REG_EXPAND_SZ':
      return { type, data };
    case 'REG_MULTI_SZ':
      return { type, data: data.split('\\0').filter((s) => s.length > 0) };
    case 'REG_DWORD':
    case 'REG_QWORD':
      return /^0x[0-9a-f]+$/i.test(data.trim()) ? { type, data: BigInt(data.trim()) } : { type: 'OTHER', data };
    case 'REG_BINARY':
      return { type, data: hexBytes(data) };
    default:
      return { type: 'OTHER', data };
  }
}

/** `0100000000000000` or `01 00 00 ...` to bytes; anything else gives no bytes. */
export function hexBytes(text: string): Uint8Array {
  const hex = text.replace(/[\s,]/g, '');
  if (!/^(?:[0-9a-f]{2})*$/i.test(hex)) return new Uint8Array();
  return Uint8Array.from(hex.match(/../g) ?? [], (b) => parseInt(b, 16));
}

export function findKey(keys: RegKey[], path: string): RegKey | undefined {
  const wanted = normalizeKeyPath(path).toLowerCase();
  return keys.find((k) => k.path.toLowerCase() === wanted);
}

export function regString(key: RegKey | undefined, name: string): string | null {
  const v = key?.values[name];
  return v && (v.type === 'REG_SZ' || v.type === 'REG_EXPAND_SZ') ? v.data : null;
}

export function regNumber(key: RegKey | undefined, name: string): bigint | null {
  const v = key?.values[name];
  return v && (v.type === 'REG_DWORD' || v.type === 'REG_QWORD') ? v.data : null;
}

export function regBytes(key: RegKey | undefined, name: string): Uint8Array | null {
  const v = key?.values[name];
  return v && v.type === 'REG_BINARY' ? v.data : null;
}
