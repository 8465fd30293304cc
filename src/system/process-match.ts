// Which process a process check's entry names: the whole executable name or the whole command line, `*` standing
// for any run of characters — never a substring ("vpn" is not "openvpn-helper"). Pure.

export type ProcessMatchBy = 'name' | 'commandLine';

export interface ProcessIdentity {
  /** Target of the executable link (/proc/PID/exe), when readable. */
  exe: string | null;
  /** Arguments (argv), empty for kernel threads and zombies. */
  argv: readonly string[];
  /** Kernel command name (cut to 15 bytes; Node 24 calls its main thread "MainThread"): used only when nothing else names the process. */
  comm: string | null;
}

const baseName = (p: string) => p.slice(Math.max(p.lastIndexOf('/'), p.lastIndexOf('\\')) + 1);

/**
 * Whether `text` is `pattern` as a whole, `*` matching any run of characters (nothing else is special). Each literal
 * piece is placed at its leftmost position, which is correct when `*` is the only wildcard: time linear in the text
 * for each piece, whatever a process puts in its command line.
 */
export function wildcardMatches(pattern: string, text: string): boolean {
  const pieces = pattern.split('*');
  if (pieces.length === 1) return pattern === text;
  const first = pieces[0]!;
  const last = pieces.at(-1)!;
  if (text.length < first.length + last.length || !text.startsWith(first) || !text.endsWith(last)) return false;
  let at = first.length;
  const end = text.length - last.length;
  for (const piece of pieces.slice(1, -1)) {
    const found = text.indexOf(piece, at);
    if (found < 0 || found + piece.length > end) return false;
    at = found + piece.length;
  }
  return true;
}

/** The names a process answers to: its executable file's base name and argv[0]'s; the command name only for kernel threads. */
export function executableNames(p: ProcessIdentity, windows = false): string[] {
  const names = new Set<string>();
  if (p.exe) names.add(baseName(p.exe.replace(/ \(deleted\)$/, '')));
  if (p.argv[0]) names.add(baseName(p.argv[0]));
  if (!names.size && p.comm) names.add(p.comm);
  // Windows: "openvpn" names openvpn.exe as well.
  if (windows) for (const n of [...names]) names.add(n.replace(/\.exe$/i, ''));
  return [...names];
}

/** argv joined by single spaces; a kernel thread's is its command name in brackets, as ps shows it. */
export function commandLine(p: ProcessIdentity): string {
  return p.argv.length ? p.argv.join(' ') : p.comm ? `[${p.comm}]` : '';
}

export function processMatches(wanted: string, by: ProcessMatchBy, p: ProcessIdentity, windows = false): boolean {
  // Windows names and paths ignore case.
  const fold = (s: string) => (windows ? s.toLowerCase() : s);
  const pattern = fold(wanted);
  if (by === 'commandLine') return wildcardMatches(pattern, fold(commandLine(p)));
  return executableNames(p, windows).some((n) => wildcardMatches(pattern, fold(n)));
}
