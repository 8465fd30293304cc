// Lint rules, including the one-way import direction of STYLE.md:
// cli -> agent | server -> services | teamviewer -> protocol | config -> system.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

// Schemas use zod/mini: zod's method API (the package's main entry) costs the idle agent ~0.9 MB (bench/analysis.md).
const ZOD_CLASSIC = { name: 'zod', message: "Write schemas with 'zod/mini' (README: How it is built)" };
const restrict = (patterns) => ({ 'no-restricted-imports': ['error', { patterns, paths: [ZOD_CLASSIC] }] });
const layer = (files, forbidden) => ({ files, rules: restrict(forbidden.map((f) => ({ group: [f], message: 'Imports run one way (STYLE.md): cli -> agent|server -> services|teamviewer -> protocol|config -> system' }))) });

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
  { files: ['src/**', 'test/**', 'bench/**', 'scripts/**'], rules: restrict([]) },
  layer(['src/protocol/**'], ['**/config/*', '**/system/*', '**/agent/*', '**/server/**', '**/cli/*', '**/services/*', '**/teamviewer/*', 'ws', 'winston', 'systeminformation', 'hono', '@hono/*']),
  layer(['src/system/**'], ['**/agent/*', '**/server/**', '**/cli/*', '**/services/**', '**/teamviewer/**', '**/config/*']),
  layer(['src/config/**'], ['**/agent/*', '**/server/**', '**/cli/*', '**/services/**', '**/teamviewer/**']),
  layer(['src/teamviewer/**', 'src/services/**'], ['**/agent/agent.js', '**/server/**', '**/cli/*']),
  layer(['src/agent/**'], ['**/server/**', '**/cli/*', 'hono', '@hono/*']),
  layer(['src/server/**'], ['**/agent/*', '**/cli/*', '**/services/**', '**/teamviewer/**']),
  // The console's browser code talks to the server only through the public API (fetch), never imports it.
  layer(['src/server/console/web/**'], ['node:*', '../*', '../../**', 'hono', 'zod', 'zod/*']),
);
