// Checks an agent state folder as a crash left it: every state file parses, and the outbox is one
// contiguous, ordered run of report files above the acknowledged number. Returns the problems found.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { ReportBodySchema } from '../../../src/protocol/frames.js';

const REPORT_FILE = /^(\d{12})\.json$/;
/** Temp files of an atomic write torn by the kill: the old file is still whole, the next start removes them. */
const TORN_TEMP = /^\..+\.[0-9a-f]{12}\.tmp$/;

export interface StateCheck {
  files: number;
  problems: string[];
  outbox: { lastAckedSeq: number; seqs: number[] };
}

function walk(dir: string, out: string[]): void {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return;
  }
  for (const name of names) {
    const full = path.join(dir, name);
    const st = statSync(full, { throwIfNoEntry: false });
    if (!st) continue;
    if (st.isDirectory()) walk(full, out);
    else if (st.isFile()) out.push(full);
  }
}

export function checkStateDir(stateDir: string): StateCheck {
  const files: string[] = [];
  walk(stateDir, files);
  const problems: string[] = [];
  let checked = 0;
  let lastAckedSeq = 0;
  const seqs: number[] = [];
  for (const file of files) {
    const name = path.basename(file);
    const rel = path.relative(stateDir, file);
    if (TORN_TEMP.test(name)) continue;
    if (name.endsWith('.corrupt')) {
      problems.push(`${rel}: a file was quarantined as corrupt`);
      continue;
    }
    const text = readFileSync(file, 'utf8');
    checked += 1;
    if (name.endsWith('.key') || name.endsWith('.pem')) {
      if (!text.startsWith('-----BEGIN ') || !text.trimEnd().endsWith('-----')) problems.push(`${rel}: torn key file`);
      continue;
    }
    if (!name.endsWith('.json')) continue;
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch (err) {
      problems.push(`${rel}: ${(err as Error).message}`);
      continue;
    }
    if (path.basename(path.dirname(file)) !== 'outbox') continue;
    const m = REPORT_FILE.exec(name);
    if (name === 'outbox.json') lastAckedSeq = (value as { lastAckedSeq: number }).lastAckedSeq;
    else if (m) {
      const report = ReportBodySchema.safeParse(value);
      if (!report.success || report.data.seq !== Number(m[1])) problems.push(`${rel}: not a report numbered like its file`);
      seqs.push(Number(m[1]));
    }
  }
  // Files at or below lastAckedSeq are leftovers of a kill between saving the counter and deleting them.
  const open = seqs.filter((s) => s > lastAckedSeq).sort((a, b) => a - b);
  open.forEach((seq, i) => {
    if (seq !== lastAckedSeq + 1 + i) problems.push(`outbox: expected report ${lastAckedSeq + 1 + i}, found ${seq} (hole or disorder)`);
  });
  return { files: checked, problems: problems.slice(0, 10), outbox: { lastAckedSeq, seqs: open } };
}
