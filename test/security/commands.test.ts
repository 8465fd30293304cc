// Static guarantees over the source: no shell anywhere, child processes only through the allow-listed edges,
// and every command type the agent or a service reacts to is in the signed-command allow-list.
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { COMMAND_BODY_SCHEMAS, COMMAND_TYPES, SERVER_TO_AGENT, parseFrame } from '../../src/protocol/frames.js';

const SRC = path.resolve('src');
function sourceFiles(dir = SRC): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) return sourceFiles(p);
    return /\.(ts|js|mjs|cjs)$/.test(e.name) ? [p] : [];
  });
}
const files = sourceFiles().map((file) => ({ file: path.relative(process.cwd(), file).split(path.sep).join('/'), text: readFileSync(file, 'utf8') }));

// Who may start a process, and with what. Anything else needs a reason in docs/security.md first.
const CHILD_PROCESS_ALLOWED: Record<string, string[]> = {
  'src/system/exec.ts': ['execFile'], // the one command runner of the agent (no shell)
  'src/cli/processes.ts': ['spawn', 'type ChildProcess'], // starts rmagent's own executables for the demo and e2e tests
};

describe('no shell, one command runner', () => {
  it('scans the whole source tree', () => {
    expect(files.length).toBeGreaterThan(30);
    expect(files.map((f) => f.file)).toContain('src/system/exec.ts');
  });

  it('never asks for a shell and never evaluates code', () => {
    const offenders = files.flatMap(({ file, text }) =>
      [/\bshell\s*:\s*(?!false\b)/, /\beval\s*\(/, /\bnew\s+Function\s*\(/, /\bexecSync\s*\(/, /\bspawnSync\s*\(/, /(?<![.\w])exec\s*\(/]
        .filter((re) => re.test(text))
        .map((re) => `${file}: ${re.source}`),
    );
    expect(offenders).toEqual([]);
  });

  it('imports child_process only in the allow-listed files, and only the allowed functions', () => {
    const uses = files.flatMap(({ file, text }) => {
      const found: string[] = [];
      for (const m of text.matchAll(/import\s*\{([^}]*)\}\s*from\s*['"](?:node:)?child_process['"]/g)) {
        for (const name of m[1]!.split(',').map((s) => s.trim()).filter(Boolean)) {
          if (!CHILD_PROCESS_ALLOWED[file]?.includes(name)) found.push(`${file}: ${name}`);
        }
      }
      if (/import\s+\*\s+as\s+\w+\s+from\s*['"](?:node:)?child_process['"]|require\(\s*['"](?:node:)?child_process['"]\s*\)|import\(\s*['"](?:node:)?child_process['"]\s*\)|import\s+\w+\s+from\s*['"](?:node:)?child_process['"]/.test(text)) {
        found.push(`${file}: whole-module import of child_process`);
      }
      return found;
    });
    expect(uses).toEqual([]);
  });

  it('runs commands with execFile and an argument array in the runner', () => {
    const runner = files.find((f) => f.file === 'src/system/exec.ts')!.text;
    expect(runner).toMatch(/execFile\(\s*command,\s*\[\.\.\.args\]/);
    expect(runner.replace(/\/\/.*$/gm, '')).not.toMatch(/shell/i);
  });
});

describe('allow-listed commands', () => {
  it('every server-to-agent frame other than the handshake is a signed command of the allow-list', () => {
    const handshake = ['server.hello', 'welcome', 'report.ack', 'error'];
    expect(SERVER_TO_AGENT.filter((t) => !handshake.includes(t)).sort()).toEqual([...COMMAND_TYPES].sort());
  });

  it('every command type the agent or a service reacts to is in COMMAND_BODY_SCHEMAS', () => {
    const handled = new Set<string>();
    for (const { file, text } of files.filter((f) => /^src\/(agent|services)\//.test(f.file))) {
      for (const m of text.matchAll(/case\s+'([^']+)'\s*:/g)) if (file === 'src/agent/agent.ts') handled.add(m[1]!);
      for (const m of text.matchAll(/frame\.type\s*[!=]==\s*'([^']+)'/g)) handled.add(m[1]!);
      for (const m of text.matchAll(/'([a-z]+\.[a-z]+)'\s*:\s*'(?:assets|backup|patches|monitoring)'/g)) handled.add(m[1]!);
    }
    expect(handled.size).toBeGreaterThan(5);
    const handshake = ['server.hello', 'welcome', 'report.ack', 'error'];
    expect([...handled].filter((t) => !Object.hasOwn(COMMAND_BODY_SCHEMAS, t) && !handshake.includes(t))).toEqual([]);
  });

  it('a frame with any other type never reaches the agent as a command', () => {
    for (const type of ['shell', 'exec', 'run', 'update', 'file.write', 'service.install ', '__proto__', 'constructor', 'toString']) {
      const r = parseFrame(JSON.stringify({ v: 2, id: 'c-1', type, ts: 1, body: { deviceId: 'd' } }), { accept: SERVER_TO_AGENT });
      expect(r, type).toMatchObject({ ok: false, code: 'FRAME_UNKNOWN_TYPE' });
    }
  });
});
