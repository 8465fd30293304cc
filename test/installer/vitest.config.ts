import { defineConfig } from 'vitest/config';

// `npm run test:package`: checks the artifacts `npm run package` put in dist/. One file at a time: the
// .deb tests install, upgrade and purge the package on this machine (root).
export default defineConfig({
  test: {
    name: 'package',
    root: new URL('../..', import.meta.url).pathname,
    include: ['test/installer/**/*.test.ts'],
    environment: 'node',
    env: { RMAGENT_PACKAGE_TEST: '1' },
    fileParallelism: false,
    testTimeout: 600_000,
    hookTimeout: 600_000,
    pool: 'forks',
  },
});
