// Sorting by UTF-16 code unit order, for names that only need a stable order (service names, device and file names).
// Not localeCompare: its first call starts ICU's collator, ~3 MB of resident memory for the life of the process
// (bench/analysis.md, issue 19).
export function compareText(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
