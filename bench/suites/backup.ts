// Backup against restic (Debian's package, default settings), same generated tree, same machine, same run:
// full backup (wall, CPU, peak RSS), repository size (allocated), a backup with nothing changed, a backup after
// inserting 100 bytes at the start of a large file plus small edits, restore time, and a fidelity comparison of
// each restore with the source (content, type, permission bits, owner, mtime, link targets, hard links,
// sparseness). rmagent runs `rmagent backup-job` exactly as the agent starts it (the agent itself does none of
// the work; the last rows measure the deployed agent's own RSS before and after backups it ran): the single executable with the job's runtime flags, or before
// packaging (CI's smoke) its stand-in, the bundle on the same Node 24 with the executable's flags and the job's. Tree: a bounded copy of /usr/share plus random, compressible and
// sparse files, hard links, symbolic links, odd modes and a FIFO (full: ~300 MB; quick: ~6 MB).
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { closeSync, existsSync, linkSync, lstatSync, mkdirSync, openSync, readdirSync, readFileSync, readlinkSync, symlinkSync, chmodSync, copyFileSync, utimesSync, writeFileSync, writeSync, type BigIntStats } from 'node:fs';
import path from 'node:path';
import type { BenchContext, Figure, SuiteResult } from '../lib/context.js';
import { JOB_ENV, JOB_V8_FLAGS, jobCommandLine } from '../../src/services/backup/job-launcher.js';
import { agentAcrossBackups, deployedSubject } from './deployed.js';
import { median } from '../lib/stats.js';

interface Timed {
  wallMs: number;
  cpuMs: number;
  maxRssKb: number;
  stdout: string;
}

/** Runs a command under GNU time: wall, user+sys CPU and peak RSS of the whole process tree's largest member. */
function timed(cmd: string, args: string[], env: NodeJS.ProcessEnv = process.env): Timed {
  const r = spawnSync('/usr/bin/time', ['-f', 'TIME %e %U %S %M', cmd, ...args], { env, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024, timeout: 900_000 });
  const m = /TIME ([\d.]+) ([\d.]+) ([\d.]+) (\d+)/.exec(r.stderr ?? '');
  if (r.status !== 0 || !m) throw new Error(`${cmd} ${args.slice(0, 3).join(' ')} failed (${r.status}): ${(r.stderr ?? '').slice(-1500)}`);
  return { wallMs: Number(m[1]) * 1000, cpuMs: (Number(m[2]) + Number(m[3])) * 1000, maxRssKb: Number(m[4]), stdout: r.stdout };
}

const du = (dir: string, apparent: boolean): number => Number(execFileSync('du', ['-s', '-B1', ...(apparent ? ['--apparent-size'] : []), dir], { encoding: 'utf8' }).split('\t')[0]);

/** A bounded copy of /usr/share (regular files and symbolic links as they are) plus the awkward cases. */
export function generateTree(root: string, budgetBytes: number, bigBytes: number): { files: number; bytes: number } {
  mkdirSync(root, { recursive: true });
  let bytes = 0;
  let files = 0;
  const copy = (src: string, dst: string, depth: number): void => {
    if (bytes >= budgetBytes || depth > 12) return;
    let names: string[];
    try {
      names = readdirSync(src).sort();
    } catch {
      return;
    }
    mkdirSync(dst, { recursive: true });
    for (const name of names) {
      if (bytes >= budgetBytes) return;
      const s = path.join(src, name);
      const d = path.join(dst, name);
      let st;
      try {
        st = lstatSync(s);
      } catch {
        continue;
      }
      if (st.isDirectory()) copy(s, d, depth + 1);
      else if (st.isSymbolicLink()) symlinkSync(readlinkSync(s), d);
      else if (st.isFile() && st.size < 32 * 1024 * 1024) {
        try {
          copyFileSync(s, d);
          chmodSync(d, st.mode & 0o777);
          utimesSync(d, st.atime, st.mtime);
          bytes += st.size;
          files++;
        } catch {
          /* unreadable: left out */
        }
      }
    }
  };
  copy('/usr/share', path.join(root, 'share'), 0);
  const extra = path.join(root, 'extra');
  mkdirSync(extra, { recursive: true });
  // Large random (does not compress), large compressible text, a sparse file with a little data in it.
  const big = openSync(path.join(extra, 'random.bin'), 'w');
  for (let left = bigBytes; left > 0; left -= 1 << 20) writeSync(big, randomBytes(Math.min(left, 1 << 20)));
  closeSync(big);
  const lines: string[] = [];
  let textBytes = 0;
  for (let i = 0; textBytes < Math.min(bigBytes, 8 << 20); i++) {
    const line = `${i}\tINFO\tservice ${i % 13} handled request ${(i * 7919) % 100_003} in ${i % 97} ms\n`;
    lines.push(line);
    textBytes += line.length;
  }
  const text = lines.join('');
  const log = openSync(path.join(extra, 'app.log'), 'w');
  for (let left = bigBytes; left > 0; left -= text.length) writeSync(log, text.slice(0, Math.min(left, text.length)));
  closeSync(log);
  const sparse = openSync(path.join(extra, 'disk.img'), 'w');
  writeSync(sparse, randomBytes(1 << 20), 0, 1 << 20, Math.floor(bigBytes / 2));
  writeSync(sparse, Buffer.from('end'), 0, 3, (bigBytes * 2) - 3);
  closeSync(sparse);
  writeFileSync(path.join(extra, 'original.txt'), 'hard linked\n');
  linkSync(path.join(extra, 'original.txt'), path.join(extra, 'second-name.txt'));
  symlinkSync('original.txt', path.join(extra, 'relative-link'));
  symlinkSync('/etc/hostname', path.join(extra, 'absolute-link'));
  symlinkSync('does-not-exist', path.join(extra, 'dangling-link'));
  writeFileSync(path.join(extra, 'odd-mode.sh'), '#!/bin/sh\n');
  chmodSync(path.join(extra, 'odd-mode.sh'), 0o751);
  writeFileSync(path.join(extra, 'private'), 'secret\n');
  chmodSync(path.join(extra, 'private'), 0o600);
  execFileSync('chown', ['1234:2345', path.join(extra, 'private')]);
  execFileSync('mkfifo', [path.join(extra, 'pipe')]);
  return { files, bytes: bytes + bigBytes * 2 + (1 << 20) };
}

/** Differences of `restored` against `source`: content, type, permission bits, owner, mtime (ms), link target, hard links, sparseness. */
export function compareTrees(source: string, restored: string): { checked: number; problems: string[] } {
  const problems: string[] = [];
  let checked = 0;
  const inodes = new Map<string, string>();
  const restoredInodes = new Map<string, string>();
  const walk = (rel: string): void => {
    const a = path.join(source, rel);
    const b = path.join(restored, rel);
    const sa = lstatSync(a, { bigint: true });
    let sb: BigIntStats;
    try {
      sb = lstatSync(b, { bigint: true });
    } catch {
      problems.push(`${rel}: missing`);
      return;
    }
    checked++;
    const type = (s: BigIntStats) => (s.isDirectory() ? 'dir' : s.isSymbolicLink() ? 'symlink' : s.isFIFO() ? 'fifo' : s.isFile() ? 'file' : 'other');
    if (type(sa) !== type(sb)) return void problems.push(`${rel}: ${type(sa)} restored as ${type(sb)}`);
    if (!sa.isSymbolicLink() && (sa.mode & 0o7777n) !== (sb.mode & 0o7777n)) problems.push(`${rel}: mode ${(sa.mode & 0o7777n).toString(8)} -> ${(sb.mode & 0o7777n).toString(8)}`);
    if (sa.uid !== sb.uid || sa.gid !== sb.gid) problems.push(`${rel}: owner ${sa.uid}:${sa.gid} -> ${sb.uid}:${sb.gid}`);
    if (rel && sa.mtimeMs !== sb.mtimeMs) problems.push(`${rel}: mtime ${sa.mtimeMs} -> ${sb.mtimeMs}`);
    if (sa.isSymbolicLink() && readlinkSync(a) !== readlinkSync(b)) problems.push(`${rel}: link target differs`);
    if (sa.isFile()) {
      if (sa.size !== sb.size || createHash('sha256').update(readFileSync(a)).digest('hex') !== createHash('sha256').update(readFileSync(b)).digest('hex')) problems.push(`${rel}: content differs`);
      if (sa.blocks * 512n < sa.size && sb.blocks * 512n >= sb.size) problems.push(`${rel}: sparse file restored in full (${sb.blocks * 512n} bytes allocated)`);
      if (sa.nlink > 1n) {
        const first = inodes.get(`${sa.ino}`);
        if (first === undefined) {
          inodes.set(`${sa.ino}`, rel);
          restoredInodes.set(rel, `${sb.ino}`);
        } else if (restoredInodes.get(first) !== `${sb.ino}`) problems.push(`${rel}: hard link to ${first} restored as a copy`);
      }
    }
    if (sa.isDirectory()) for (const n of readdirSync(a).sort()) walk(rel ? `${rel}/${n}` : n);
  };
  walk('');
  return { checked, problems };
}

export async function backup(ctx: BenchContext): Promise<SuiteResult> {
  const notes: string[] = [];
  const figures: Figure[] = [];
  const commands: string[] = [];
  if (process.platform !== 'linux' || process.getuid?.() !== 0) return skipped('needs Linux and root (owners, a FIFO, apt-get for restic)');
  if (!existsSync('/usr/bin/restic')) {
    ctx.log('backup: installing restic from Debian');
    const r = spawnSync('apt-get', ['install', '-y', '--no-install-recommends', 'restic'], { encoding: 'utf8', env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' }, timeout: 300_000 });
    if (r.status !== 0 || !existsSync('/usr/bin/restic')) return skipped(`restic could not be installed: ${(r.stderr ?? '').trim().split('\n').slice(-1)[0]}`);
  }
  if (!existsSync('/usr/bin/time')) return skipped('GNU time (/usr/bin/time) is missing: apt-get install time');
  const resticVersion = execFileSync('restic', ['version'], { encoding: 'utf8' }).trim();
  const work = path.join(ctx.work, 'backup');
  const tree = path.join(work, 'tree');
  const budget = ctx.quick ? 4 << 20 : 200 << 20;
  const bigBytes = ctx.quick ? 1 << 20 : 32 << 20;
  const generated = generateTree(tree, budget, bigBytes);
  const apparent = du(tree, true);
  notes.push(`tree: ${generated.files} files copied from /usr/share (${(budget / 1048576).toFixed(0)} MiB budget) + ${(bigBytes / 1048576).toFixed(0)} MiB random, ${(bigBytes / 1048576).toFixed(0)} MiB compressible text, a ${(bigBytes * 2 / 1048576).toFixed(0)} MiB sparse file with 1 MiB of data, hard links, symbolic links (relative, absolute, dangling), modes 751/600, an owner 1234:2345, a FIFO; ${(apparent / 1e6).toFixed(0)} MB apparent, ${(du(tree, false) / 1e6).toFixed(0)} MB allocated`);
  const subject = deployedSubject(ctx);
  const jobLine = (file: string): { command: string; args: string[] } => {
    if (!subject.standIn) return jobCommandLine({ command: subject.exe, args: [], singleExecutable: true }, file);
    // The stand-in: what `--node-options=` adds to the executable's flags comes after them, before the script.
    const [exe, ...flags] = subject.launcherOf(subject.exe);
    const script = flags.pop()!;
    return { command: exe!, args: [...flags, ...JOB_V8_FLAGS, script, 'backup-job', '--job', file] };
  };
  notes.push(`${resticVersion}; rmagent: \`rmagent backup-job\` (the process the agent starts for a backup) run by the ${subject.label}, with the job's V8 flags (${JOB_V8_FLAGS.join(' ')}) and environment (${Object.entries(JOB_ENV).map(([k, v]) => `${k}=${v}`).join(' ')}) as the agent sets them`);
  // Both read the same tree from the page cache: one warm-up read first.
  execFileSync('tar', ['-cf', '/dev/null', '-C', tree, '.']);

  // ---- rmagent ----
  const state = path.join(work, 'rm-state');
  const repo = path.join(work, 'rm-repo');
  const main = { state, repo };
  let jobN = 0;
  const rmJob = (spec: Record<string, unknown>, { state, repo } = main): Timed & { result: Record<string, unknown> } => {
    const jobId = `bench-${++jobN}`;
    const dir = path.join(state, 'jobs', jobId);
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const file = path.join(dir, 'job.json');
    writeFileSync(file, JSON.stringify({ v: 1, jobId, commandId: null, createdAt: Date.now(), stateDir: state, destination: repo, lastSnapshot: null, ...spec }));
    const line = jobLine(file);
    const t = timed(line.command, line.args, { ...process.env, ...JOB_ENV });
    const result = JSON.parse(readFileSync(path.join(dir, 'result.json'), 'utf8')) as Record<string, unknown>;
    if (result.kind === 'error') throw new Error(`rmagent job failed: ${JSON.stringify(result)}`);
    return { ...t, result };
  };
  const rmBackup = (id: string, where = main) => rmJob({ kind: 'snapshot', snapshotId: id, folders: [tree], exclude: [], actor: null, keep: 100, verify: true }, where);

  // ---- restic ----
  const rrepo = path.join(work, 'restic-repo');
  const renv = { ...process.env, RESTIC_PASSWORD: 'bench-password', RESTIC_REPOSITORY: rrepo, RESTIC_CACHE_DIR: path.join(work, 'restic-cache') };
  execFileSync('restic', ['init'], { env: renv, stdio: 'ignore' });
  const resticBackup = (env = renv) => timed('restic', ['backup', '--quiet', tree], env);
  commands.push(`/usr/bin/time rmagent backup-job --job <job.json>   |   /usr/bin/time restic backup --quiet <tree>`);

  const row = (name: string, unit: string, ours: number | number[], theirs: number | number[], note?: string) => {
    const [o, t] = [ours, theirs].map((v) => (Array.isArray(v) ? v : [v])) as [number[], number[]];
    const [om, tm] = [median(o), median(t)];
    figures.push({ name: `${name}: restic`, unit, runs: t, value: tm });
    figures.push({ name: `${name}: rmagent`, unit, runs: o, value: om, baseline: `${name}: restic`, ratio: om !== null && tm ? om / tm : null, ...(note ? { note } : {}) });
  };
  const TIMED_FIGURES = { wall: ['ms', (t: Timed) => t.wallMs], CPU: ['ms', (t: Timed) => t.cpuMs], 'peak RSS': ['MB', (t: Timed) => t.maxRssKb / 1024] } as const;
  const timedRows = (what: string, ours: Timed[], theirs: Timed[], which: ReadonlyArray<keyof typeof TIMED_FIGURES>) => {
    for (const figure of which) {
      const [unit, pick] = TIMED_FIGURES[figure];
      row(`${what}, ${figure}`, unit, ours.map(pick), theirs.map(pick));
    }
  };

  // Full backups and restores run twice each, in the order rmagent, restic, restic, rmagent, so that each tool has
  // an early and a late turn: on this kind of machine the same work's time drifts within minutes (file creation on
  // an ext4 without a journal scans inodes deleted in the last minutes, docs/benchmarks.md), and a fixed order
  // handed that drift to whichever ran first. The second pair writes into repositories of its own.
  ctx.log('backup: full backups');
  notes.push('full backups and restores: two runs each, in the order rmagent, restic, restic, rmagent (the second full backups into repositories of their own); with two runs the nearest-rank median is the lower');
  // In a folder of their own, made before the first backup: restic records the folders above the tree too, and a
  // folder made next to the tree between two backups would count as a change in the next one.
  const second = path.join(work, 'second');
  mkdirSync(second);
  const rrepo2 = path.join(second, 'restic-repo');
  const renv2 = { ...renv, RESTIC_REPOSITORY: rrepo2 };
  execFileSync('restic', ['init'], { env: renv2, stdio: 'ignore' });
  const rFull = rmBackup('s1');
  const tFull = resticBackup();
  const tFull2 = resticBackup(renv2);
  const rFull2 = rmBackup('s1', { state: path.join(second, 'rm-state'), repo: path.join(second, 'rm-repo') });
  timedRows('full backup', [rFull, rFull2], [tFull, tFull2], ['wall', 'CPU', 'peak RSS']);
  const rmSize1 = du(repo, false);
  const reSize1 = du(rrepo, false);
  row('repository on disk (allocated)', 'MB', rmSize1 / 1e6, reSize1 / 1e6);

  ctx.log('backup: nothing changed');
  const rmA = du(repo, true);
  const reA = du(rrepo, true);
  const rSame = rmBackup('s2');
  const tSame = resticBackup();
  row('backup with nothing changed, wall', 'ms', rSame.wallMs, tSame.wallMs);
  row('backup with nothing changed, repository growth', 'B', du(repo, true) - rmA, du(rrepo, true) - reA);

  ctx.log('backup: an insert and small edits');
  // 100 bytes go in at the start and at three more places a quarter of the file apart: each insert re-stores the
  // chunk it falls in, and with one insert the row was the ratio of two single chunk sizes, which CDC draws at
  // random around 1 MiB (0.43-2.28x over eight runs with fresh random data); four inserts average that draw.
  const random = path.join(tree, 'extra', 'random.bin');
  const original = readFileSync(random);
  const places = [0, 1, 2, 3].map((k) => Math.floor((original.length * k) / 4));
  writeFileSync(random, Buffer.concat(places.flatMap((at, k) => [randomBytes(100), original.subarray(at, places[k + 1] ?? original.length)])));
  writeFileSync(path.join(tree, 'extra', 'original.txt'), 'hard linked, edited\n');
  writeFileSync(path.join(tree, 'extra', 'new-file.txt'), 'new\n');
  const rmB = du(repo, true);
  const reB = du(rrepo, true);
  const rEdit = rmBackup('s3');
  const tEdit = resticBackup();
  row(`after inserting 100 bytes at the start and at 3 other places of a ${(bigBytes / 1048576).toFixed(0)} MiB file (+ small edits), repository growth`, 'MB', (du(repo, true) - rmB) / 1e6, (du(rrepo, true) - reB) / 1e6);
  row('that backup, wall', 'ms', rEdit.wallMs, tEdit.wallMs);

  ctx.log('backup: restores');
  const rmOut = path.join(work, 'rm-restored');
  const reOut = path.join(work, 'restic-restored');
  const rRestore = rmJob({ kind: 'restore', snapshot: 's3', target: rmOut, policyFolders: [] });
  const tRestore = timed('restic', ['restore', 'latest', '--target', reOut], renv);
  const tRestore2 = timed('restic', ['restore', 'latest', '--target', `${reOut}-2`], renv);
  const rRestore2 = rmJob({ kind: 'restore', snapshot: 's3', target: `${rmOut}-2`, policyFolders: [] });
  timedRows('restore', [rRestore, rRestore2], [tRestore, tRestore2], ['wall', 'peak RSS']);
  const ours = compareTrees(tree, rmOut);
  // restic restores the absolute path under the target.
  const theirs = compareTrees(tree, path.join(reOut, tree));
  row('fidelity: entries differing from the source', 'count', ours.problems.length, theirs.problems.length, `of ${ours.checked} / ${theirs.checked} checked`);
  notes.push(`rmagent restore differences (first 10): ${ours.problems.slice(0, 10).join('; ') || 'none'}`);
  notes.push(`restic restore differences (first 10): ${theirs.problems.slice(0, 10).join('; ') || 'none'}`);
  const diff = spawnSync('diff', ['-r', '--no-dereference', tree, rmOut], { encoding: 'utf8' });
  notes.push(`diff -r --no-dereference source rmagent-restore: exit ${diff.status}${diff.status ? `: ${diff.stdout.split('\n').slice(0, 3).join(' | ')}` : ''}`);
  notes.push(`rmagent job results: full ${JSON.stringify((rFull.result as { snapshot?: unknown }).snapshot)}; verify ${JSON.stringify(rFull.result.verified)}`);

  // The agent that starts these jobs, as deployed: its own memory before and after backups it ran.
  ctx.log('backup: the deployed agent before and after backups it runs');
  const across = await agentAcrossBackups(ctx, tree, path.join(work, 'agent-repo'));
  const beforeName = 'agent RSS before its first backup (as deployed)';
  figures.push({ name: beforeName, unit: 'MB', runs: [across.before.rssKb / 1024], value: across.before.rssKb / 1024 });
  across.after.forEach((peak, k) => figures.push({
    name: `agent RSS after ${k === 0 ? 'a full backup' : 'a second backup (nothing changed)'} it ran`, unit: 'MB', runs: [peak.rssKb / 1024], value: peak.rssKb / 1024,
    baseline: beforeName, ratio: peak.rssKb / across.before.rssKb, note: `anonymous ${(peak.anonKb / 1024).toFixed(1)} MB (before: ${(across.before.anonKb / 1024).toFixed(1)} MB)`,
  }));
  commands.push(`agent rows: the ${subject.label} as in the deployed suite (TeamViewer present, four services on default policies, wss://, packaged config), then Backup assigned {folders: [tree], destination} and two POST /api/v1/devices/ID/commands backup.run, each waited for until done; peak of /proc/PID/smaps_rollup Rss sampled every 5 s over ${across.windowMs / 1000} s, ${across.settleMs / 1000} s after the first inventory and patch scan and after each backup`);
  notes.push(...across.notes, `the agent's repository after its two backups: ${(du(path.join(work, 'agent-repo'), true) / 1e6).toFixed(1)} MB`);
  return { id: 'backup', title: 'Backup: rmagent against restic, same tree', commands, figures, notes };

  function skipped(why: string): SuiteResult {
    return { id: 'backup', title: 'Backup: rmagent against restic (skipped)', commands: [], figures: [], notes: [`skipped: ${why}`] };
  }
}
