// Lint rules, including the one-way import direction of STYLE.md:
// cli -> agent | server -> services | teamviewer -> protocol | config -> system.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

// Schemas use zod/mini: zod's method API (the package's main entry) costs the idle agent ~0.9 MB (bench/analysis.md).
const ZOD_CLASSIC = { name: 'zod', message: "Write schemas with 'zod/mini' (README: How it is built)" };
// The agent's code takes its promise file operations from system/fs-async.ts: fs.promises loads readline and the REPL
// history module, ~0.8 MB of the idle agent's RSS (bench/analysis.md). The server keeps fs.promises.
const FS_ASYNC = "Use fsAsync from src/system/fs-async.ts (fs.promises costs the idle agent ~0.8 MB)";
// Elapsed time comes from systemClock.monotonic (src/system/clock.ts): perf_hooks and the ~10 built-in modules it loads
// cost the idle agent ~0.4 MB of RSS (docs/benchmarks.md, issue 19).
const PERF = 'Use systemClock.monotonic from src/system/clock.ts (perf_hooks costs the idle agent ~0.4 MB)';
const AGENT_PATHS = [ZOD_CLASSIC, { name: 'node:fs/promises', message: FS_ASYNC }, { name: 'fs/promises', message: FS_ASYNC }, { name: 'node:fs', importNames: ['promises'], message: FS_ASYNC }, { name: 'fs', importNames: ['promises'], message: FS_ASYNC }, { name: 'node:perf_hooks', message: PERF }, { name: 'perf_hooks', message: PERF }];
const restrict = (patterns, paths = [ZOD_CLASSIC]) => ({ 'no-restricted-imports': ['error', { patterns, paths }] });
const layer = (files, forbidden, paths = AGENT_PATHS) => ({ files, rules: restrict(forbidden.map((f) => ({ group: [f], message: 'Imports run one way (STYLE.md): cli -> agent|server -> services|teamviewer -> protocol|config -> system' })), paths) });

export default tseslint.config(
  { ignores: ['build/**', 'dist/**', 'node_modules/**', 'coverage/**', 'test/fixtures/**', '**/.cache/**', '.tmp/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/no-non-null-assertion': 'off',
      'no-console': 'off',
    },
  },
  // CommonJS stand-ins bundled into the single executables in place of two of winston's dependencies.
  { files: ['installer/sea/shims/*.cjs'], languageOptions: { sourceType: 'commonjs', globals: { module: 'writable', require: 'readonly' } }, rules: { '@typescript-eslint/no-require-imports': 'off' } },
  { files: ['test/**', 'bench/**', 'scripts/**'], rules: restrict([]) },
  { files: ['src/**'], rules: restrict([], AGENT_PATHS) },
  { files: ['src/**'], ignores: ['src/server/**'], rules: { 'no-restricted-globals': ['error', { name: 'performance', message: PERF }] } },
  layer(['src/protocol/**'], ['**/config/*', '**/system/*', '**/agent/*', '**/server/**', '**/cli/*', '**/services/*', '**/teamviewer/*', 'ws', 'winston', 'systeminformation', 'hono', '@hono/*']),
  layer(['src/system/**'], ['**/agent/*', '**/server/**', '**/cli/*', '**/services/**', '**/teamviewer/**', '**/config/*']),
  layer(['src/config/**'], ['**/agent/*', '**/server/**', '**/cli/*', '**/services/**', '**/teamviewer/**']),
  layer(['src/teamviewer/**', 'src/services/**'], ['**/agent/agent.js', '**/server/**', '**/cli/*']),
  layer(['src/agent/**'], ['**/server/**', '**/cli/*', 'hono', '@hono/*']),
  layer(['src/server/**'], ['**/agent/*', '**/cli/*', '**/services/**', '**/teamviewer/**'], [ZOD_CLASSIC]),
  // The console's browser code talks to the server only through the public API (fetch), never imports it.
  layer(['src/server/console/web/**'], ['node:*', '../*', '../../**', 'hono', 'zod', 'zod/*'], [ZOD_CLASSIC]),
);
