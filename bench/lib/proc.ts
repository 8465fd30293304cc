// What a process costs, read from /proc (Linux): resident and proportional memory, CPU time used.
import { readFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';

let ticks: number | null = null;
/** Clock ticks per second of utime/stime in /proc/PID/stat (getconf CLK_TCK, 100 almost everywhere). */
export function clockTicks(): number {
  if (ticks === null) {
    try {
      ticks = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      ticks = 100;
    }
  }
  return ticks;
}

export interface MemorySample {
  rssKb: number;
  pssKb: number;
  /** Anonymous memory (V8 heap, malloc, stacks); the rest of RSS is file pages (the executable, libraries). */
  anonKb: number;
}

/** RSS and PSS in kB from /proc/PID/smaps_rollup (PSS shares the runtime's pages fairly between processes). */
export function memoryOf(pid: number): MemorySample {
  const text = readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8');
  const field = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(text)?.[1] ?? NaN);
  return { rssKb: field('Rss'), pssKb: field('Pss'), anonKb: field('Anonymous') };
}

/** CPU time (user + system) the process has used so far, in ms, with its waited-for children's. */
export function cpuMsOf(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // Fields after the command name (which may hold spaces) start at the last ')'.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const utime = Number(fields[11]);
  const stime = Number(fields[12]);
  const children = Number(fields[13]) + Number(fields[14]);
  return ((utime + stime + children) * 1000) / clockTicks();
}

/** CPU time of this process (user + system) in ms. */
export function selfCpuMs(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
}

/** Resident KB by mapping name (file path, or [heap], [anon], ...) from /proc/PID/smaps. */
export function rssByMapping(pid: number): Map<string, number> {
  const groups = new Map<string, number>();
  let name = '';
  for (const line of readFileSync(`/proc/${pid}/smaps`, 'utf8').split('\n')) {
    const mapping = /^[0-9a-f]+-[0-9a-f]+ \S+ \S+ \S+ \S+\s*(.*)$/.exec(line);
    if (mapping) { name = mapping[1] || '[anon]'; continue; }
    const rss = /^Rss:\s+(\d+) kB/.exec(line);
    if (rss) groups.set(name, (groups.get(name) ?? 0) + Number(rss[1]));
  }
  return groups;
}
