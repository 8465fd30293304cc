// The stand-ins for node:path and node:fs of the agent's single executables (installer/sea/shims/node-path.cjs,
// node-fs.cjs), bundled as installer/sea/build.sh bundles the agent: default, named and namespace imports read the
// same functions as Node's modules, without esbuild's per-importer copy of every export as a getter.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';

const ROOT = path.resolve(__dirname, '../..');
let dir: string;

function bundleAndRun(aliases: string[]): { same: boolean; joined: string; read: string; ownNames: number } {
  const out = path.join(dir, `bundle-${aliases.length}.cjs`);
  execFileSync(path.join(ROOT, 'node_modules/.bin/esbuild'), [path.join(dir, 'entry.mts'), '--bundle', '--platform=node', '--format=cjs', ...aliases, `--outfile=${out}`, '--log-level=warning'], { timeout: 60_000 });
  return JSON.parse(execFileSync(process.execPath, [out], { encoding: 'utf8', timeout: 20_000 }).trim()) as { same: boolean; joined: string; read: string; ownNames: number };
}

beforeAll(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'rmagent-builtin-shims-'));
  writeFileSync(path.join(dir, 'note.txt'), 'read through the stand-in');
  writeFileSync(path.join(dir, 'entry.mts'), `import path from 'node:path';
import { join, sep } from 'node:path';
import * as pathNs from 'node:path';
import fs from 'node:fs';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
const real = createRequire(__filename);
const same = path.join === real('path').join && join === real('path').join && pathNs.dirname === real('path').dirname && sep === real('path').sep
  && fs.readFileSync === real('fs').readFileSync && readFileSync === real('fs').readFileSync && fs.constants === real('fs').constants;
const ownNames = Object.getOwnPropertyNames(pathNs).filter((n) => n !== 'default').length;
console.log(JSON.stringify({ same, joined: path.join('a', 'b'), read: fs.readFileSync(${JSON.stringify(path.join('DIR', 'note.txt'))}.replace('DIR', __dirname), 'utf8'), ownNames }));
`);
});

describe('node:path and node:fs stand-ins', () => {
  it('read through to Node\'s modules from default, named and namespace imports, with nothing copied per importer', () => {
    const shims = path.join(ROOT, 'installer/sea/shims');
    const withShims = bundleAndRun([`--alias:node:path=${path.join(shims, 'node-path.cjs')}`, `--alias:node:fs=${path.join(shims, 'node-fs.cjs')}`]);
    expect(withShims).toEqual({ same: true, joined: path.join('a', 'b'), read: 'read through the stand-in', ownNames: 0 });
    // Without them esbuild copies each export of node:path onto the importer's namespace object.
    expect(bundleAndRun([]).ownNames).toBeGreaterThan(10);
  });
});
