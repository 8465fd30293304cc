// Version facts baked in at build time (installer/sea sets RMAGENT_BUILD_* through esbuild define).
declare const __RMAGENT_VERSION__: string | undefined;
declare const __RMAGENT_COMMIT__: string | undefined;

export const AGENT_VERSION = typeof __RMAGENT_VERSION__ === 'string' ? __RMAGENT_VERSION__ : '0.1.0';
export const AGENT_COMMIT = typeof __RMAGENT_COMMIT__ === 'string' ? __RMAGENT_COMMIT__ : 'dev';

export function versionInfo(): { version: string; commit: string; runtime: string; platform: string; arch: string; singleExecutable: boolean; runtimeFlags: string[] } {
  let sea: boolean;
  try {
    // node:sea exists from Node 20.12; isSea() tells whether this process is a single executable.
    sea = (process as unknown as { getBuiltinModule?: (n: string) => { isSea?: () => boolean } | undefined }).getBuiltinModule?.('node:sea')?.isSea?.() ?? false;
  } catch {
    sea = false;
  }
    // The V8/Node flags in force (a single executable carries its own: installer/sea/build.sh).
  return { version: AGENT_VERSION, commit: AGENT_COMMIT, runtime: process.version, platform: process.platform, arch: process.arch, singleExecutable: sea, runtimeFlags: [...process.execArgv] };
}
