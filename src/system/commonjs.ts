// Code compiled as Node compiles a CommonJS module's file (its five parameters), for code Node's own loader does
// not read from a file: the Linux agent's appended code (cli/sea-loader.ts, scripts/sea-payload.ts) and the single
// executable's assets (sea-module.ts).
import vm from 'node:vm';

export type CommonJsFunction = ((exports: unknown, require: NodeJS.Require, module: { exports: unknown }, filename: string, dirname: string) => void) & {
  /** Set when `cachedData` was given: V8 did not accept it (made under other flags) and compiled from scratch. */
  cachedDataRejected?: boolean;
  /** Set with `produceCachedData`. */
  cachedData?: Buffer;
};

export function compileCommonJs(code: string, options: { filename?: string; cachedData?: Buffer | undefined; produceCachedData?: boolean } = {}): CommonJsFunction {
  return vm.compileFunction(code, ['exports', 'require', 'module', '__filename', '__dirname'], {
    ...options,
    // import() of built-in modules, as in a SEA main script.
    importModuleDynamically: vm.constants.USE_MAIN_CONTEXT_DEFAULT_LOADER,
  }) as CommonJsFunction;
}
