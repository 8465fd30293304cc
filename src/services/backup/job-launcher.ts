// The agent's side of a backup job: prepares its folder (job.json), starts `rmagent backup-job` outside the
// agent's process (system-runner.ts: a transient systemd unit with its own MemoryMax, else a plain child; both
// with a V8 heap bound), and waits for its result. The wait reads the job's folder, not the child: a job keeps
// running when the agent restarts, and the agent that starts next finds it (pending()) and waits for it the same
// way. A job without a result whose heartbeat went silent, or whose process ended, failed (BACKUP_JOB_FAILED).
import path from 'node:path';
import { fsAsync as fs } from '../../system/fs-async.js';
import { randomBytes } from 'node:crypto';
import { ensureDir, readJsonFile, writeJsonAtomic } from '../../system/files.js';
import type { CommandResult } from '../../system/exec.js';
import type { SystemChangeRunner } from '../../system/system-runner.js';
import { selfWithRuntimeFlags, type SelfInvocation } from '../../system/self.js';
import { HEARTBEAT_FILE, JOB_FILE, jobLiveness, jobResultSchema, jobSpecSchema, RESULT_FILE, type JobResult, type JobSpec } from './job-spec.js';

/** The job's own bounds: V8's heap (the rest of its memory is I/O buffers) and, under systemd, the unit's. */
export const JOB_HEAP_MB = 256;
/**
 * V8 flags of the job. First, V8's optimising compilers back on: the single executable bakes in the agent's
 * `--lite-mode` (installer/sea/build.sh), under which the job's own loops (the chunker, the restore) ran 2-3x the CPU
 * and a byte loop like the chunker's ~45x slower (full backup 5.3 -> 17.2 s of user CPU on the bench tree, as
 * deployed ~3-4x restic's). Then its heap bound, and a small young generation (4 MB semi-spaces instead of up to 16):
 * the job's garbage is mostly Buffer objects whose memory lives outside the heap and is freed only when a scavenge
 * finds them dead, so frequent small scavenges keep both the heap and that memory small (backup bench: peak RSS
 * ~250 -> ~195 MB for the same CPU). And V8's heap grown in smaller steps (--optimize-for-size, which lite mode
 * implied): the planned entries and the index are most of what lives, and the heap had grown ~2x around them (as
 * deployed, alternated one-offs on a 30,000-file tree: restore peak RSS 164-167 -> 143-144 MB, full backup 212-221
 * -> 192-195 MB, for ~10-15% more user CPU).
 */
export const JOB_V8_FLAGS: readonly string[] = ['--no-lite-mode', '--optimize-for-size', `--max-old-space-size=${JOB_HEAP_MB}`, '--max-semi-space-size=4', '--expose-gc'];
/**
 * The job's environment: glibc's mmap threshold held at 128 KiB. Without it glibc raises the threshold to the
 * largest block freed (a chunk of up to 8 MiB), after which chunk-sized Buffers come from the heap and their freed
 * memory stays there (backup bench tree, alternated pairs: backup peak RSS 187-213 -> 172-181 MB, restore 164-194 ->
 * 150-151 MB, the same CPU). Under systemd the agent's unit sets the same for the agent.
 */
export const JOB_ENV: Readonly<Record<string, string>> = { MALLOC_MMAP_THRESHOLD_: '131072' };

/** How the agent starts a job: this rmagent again, with the job's runtime flags. */
export function jobCommandLine(self: SelfInvocation, jobFile: string): { command: string; args: string[] } {
  return selfWithRuntimeFlags(self, JOB_V8_FLAGS, ['backup-job', '--job', jobFile]);
}
export const JOB_MEMORY_MAX = '768M';
export const JOB_TIMEOUT_MS = 24 * 3_600_000;
const POLL_MS = 250;

export type JobEnd = { status: 'result'; result: JobResult } | { status: 'failed'; message: string } | { status: 'detached' };

export interface JobLauncher {
  /** A new job folder's id. */
  newJobId(): string;
  /** Writes the job and starts it; the promise is the process's own end (not needed to wait: see wait()). */
  start(spec: JobSpec): Promise<{ exit: Promise<CommandResult> }>;
  /** Waits for the job's result; 'detached' when `signal` aborts first (the job keeps running). */
  wait(jobId: string, exit: Promise<CommandResult> | null, signal: AbortSignal): Promise<JobEnd>;
  /** Job folders present (started by this agent or one before it), with their specs. */
  pending(): Promise<JobSpec[]>;
  /** Forgets a finished job. */
  remove(jobId: string): Promise<void>;
}

export interface JobLauncherDeps {
  /** The Backup service's state folder: jobs live in its `jobs/` folder. */
  stateDir: string;
  changes: SystemChangeRunner;
  self: SelfInvocation;
  now: () => number;
}

export function createJobLauncher(deps: JobLauncherDeps): JobLauncher {
  const jobsDir = path.join(deps.stateDir, 'jobs');
  const dirOf = (jobId: string) => path.join(jobsDir, jobId);
  const readResult = async (jobId: string): Promise<JobResult | 'invalid' | null> => {
    const read = await readJsonFile(path.join(dirOf(jobId), RESULT_FILE), jobResultSchema());
    return read.status === 'ok' ? read.value : read.status === 'missing' ? null : 'invalid';
  };
  const ageOf = async (file: string): Promise<number | null> => fs.stat(file).then((s) => Math.max(0, deps.now() - s.mtimeMs), () => null);

  return {
    newJobId: () => `${deps.now().toString(36)}-${randomBytes(4).toString('hex')}`,
    async start(spec) {
      await ensureDir(dirOf(spec.jobId));
      const jobFile = path.join(dirOf(spec.jobId), JOB_FILE);
      await writeJsonAtomic(jobFile, spec);
      const exit = deps.changes.run({
        purpose: spec.kind === 'snapshot' ? 'backup' : 'backup-restore',
        ...jobCommandLine(deps.self, jobFile),
        env: { ...JOB_ENV },
        properties: [`MemoryMax=${JOB_MEMORY_MAX}`],
        timeoutMs: JOB_TIMEOUT_MS,
      });
      return { exit };
    },
    async wait(jobId, exit, signal) {
      let ended: CommandResult | null = null;
      void exit?.then((r) => void (ended = r));
      const jobAge = () => ageOf(path.join(dirOf(jobId), JOB_FILE));
      for (;;) {
        const result = await readResult(jobId);
        if (result === 'invalid') return { status: 'failed', message: 'the job wrote a result that does not parse' };
        if (result) return { status: 'result', result };
        const done = ended as CommandResult | null;
        if (done) {
          // Its process ended: a result written just before is read once more.
          const last = await readResult(jobId);
          if (last && last !== 'invalid') return { status: 'result', result: last };
          const how = done.code !== null ? `exit ${done.code}` : (done.error ?? 'killed');
          return { status: 'failed', message: `the backup job ended (${how}) without a result${done.stderr ? `: ${done.stderr.trim().split('\n').slice(-30).join(' ').slice(0, 3000)}` : ''}` };
        }
        if (!exit && jobLiveness(await ageOf(path.join(dirOf(jobId), HEARTBEAT_FILE)), (await jobAge()) ?? Infinity) === 'dead') {
          return { status: 'failed', message: 'the backup job stopped without a result (its heartbeat went silent: crashed or killed)' };
        }
        if (signal.aborted) return { status: 'detached' };
        await new Promise<void>((resolve) => {
          const timer = setTimeout(done2, POLL_MS);
          function done2() {
            clearTimeout(timer);
            signal.removeEventListener('abort', done2);
            resolve();
          }
          signal.addEventListener('abort', done2, { once: true });
        });
      }
    },
    async pending() {
      const names = await fs.readdir(jobsDir).catch(() => [] as string[]);
      const specs: JobSpec[] = [];
      for (const name of names.sort()) {
        const read = await readJsonFile(path.join(jobsDir, name, JOB_FILE), jobSpecSchema());
        if (read.status === 'ok' && read.value.jobId === name) specs.push(read.value);
        else await fs.rm(path.join(jobsDir, name), { recursive: true, force: true }); // torn before it started
      }
      return specs;
    },
    async remove(jobId) {
      await fs.rm(dirOf(jobId), { recursive: true, force: true });
    },
  };
}
