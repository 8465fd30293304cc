// Shared by the package tests: where the artifacts are, and a bounded way to run a command on them.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

export const ROOT = path.resolve(import.meta.dirname, '../..');
export const DIST = process.env.RMAGENT_DIST ?? path.join(ROOT, 'dist');
export const VERSION: string = process.env.RMAGENT_VERSION ?? (JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;
/** The build number the packages carry (installer/sea/build.sh writes it next to them), and the full version. */
const buildInfo = path.join(DIST, 'build-info.json');
export const BUILD: number = process.env.RMAGENT_BUILD ? Number(process.env.RMAGENT_BUILD) : fs.existsSync(buildInfo) ? (JSON.parse(fs.readFileSync(buildInfo, 'utf8')) as { build?: number }).build ?? 0 : 0;
export const FULL_VERSION = `${VERSION}+${BUILD}`;
/** Package checks run only under `npm run test:package` (after `npm run package`), never in `npm test`. */
export const PACKAGE_TEST = process.env.RMAGENT_PACKAGE_TEST === '1';

export interface Ran { code: number | null; stdout: string; stderr: string; ms: number }

export function run(cmd: string, args: string[], options: { env?: NodeJS.ProcessEnv; cwd?: string; input?: string; timeoutMs?: number } = {}): Ran {
  const started = process.hrtime.bigint();
  const r = spawnSync(cmd, args, {
    cwd: options.cwd ?? ROOT,
    env: options.env ?? process.env,
    input: options.input,
    encoding: 'utf8',
    timeout: options.timeoutMs ?? 300_000,
    maxBuffer: 64 * 1024 * 1024,
  });
  if (r.error) throw r.error;
  return { code: r.status, stdout: r.stdout, stderr: r.stderr, ms: Number(process.hrtime.bigint() - started) / 1e6 };
}

export function artifact(name: string): string {
  return path.join(DIST, name);
}

export function has(tool: string): boolean {
  return run('sh', ['-c', `command -v ${tool}`]).code === 0;
}

/** Every file and folder under dir: mode, owner and content hash (what "nothing changed" compares). */
export function snapshot(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  if (!fs.existsSync(dir)) return out;
  const walk = (d: string): void => {
    for (const entry of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, entry.name);
      const st = fs.lstatSync(p);
      const mode = (st.mode & 0o7777).toString(8);
      if (entry.isDirectory()) {
        out[p] = `dir ${mode} ${st.uid}:${st.gid}`;
        walk(p);
      } else if (entry.isFile()) {
        out[p] = `file ${mode} ${st.uid}:${st.gid} ${createHash('sha256').update(fs.readFileSync(p)).digest('hex')}`;
      } else {
        out[p] = `other ${mode}`;
      }
    }
  };
  walk(dir);
  return out;
}

export function modeOf(p: string): string {
  return (fs.statSync(p).mode & 0o7777).toString(8).padStart(4, '0');
}
