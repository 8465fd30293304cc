// Code the single executable carries as an asset rather than in its main script (installer/sea/build.sh): the
// main script's source stays in the heap and its blob pages stay resident for the life of the process, an asset
// is read only when first needed. systeminformation is one: 312 KB of the 813 KB bundle, and a Linux agent
// needs it only for a hardware inventory.
import { createRequire } from 'node:module';
import path from 'node:path';
import { compileCommonJs } from './commonjs.js';

type Sea = typeof import('node:sea');

/** Runs a CommonJS asset of the single executable and returns its exports; null when not running as one, or without that asset. */
export async function loadSeaModule<T>(asset: string): Promise<T | null> {
  // getBuiltinModule, not import(): in the executable's code (compiled by vm, commonjs.ts) a real dynamic import
  // starts Node's ESM loader and prints an ExperimentalWarning on stderr.
  const sea = (process.getBuiltinModule?.('node:sea') ?? null) as Sea | null;
  if (!sea?.isSea()) return null;
  let source: string;
  try {
    source = sea.getAsset(asset, 'utf8');
  } catch {
    return null; // a build without the asset (its code is then in the main script)
  }
  const filename = path.join(path.dirname(process.execPath), asset);
  const module = { exports: {} as unknown };
  const run = compileCommonJs(source, { filename });
  // The asset is bundled: it requires only Node's built-in modules, which any require resolves.
  run.call(module.exports, module.exports, createRequire(filename), module, filename, path.dirname(filename));
  return module.exports as T;
}
