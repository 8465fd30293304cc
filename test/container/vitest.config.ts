import { defineConfig } from 'vitest/config';

// `npm run test:system`: the .deb's whole life under a real systemd, in a booted Debian container (nspawn.ts).
// Runs after `npm run package` (it installs dist/'s .deb in the container, never on this machine).
export default defineConfig({
  test: {
    name: 'system',
    root: new URL('../..', import.meta.url).pathname,
    include: ['test/container/**/*.test.ts'],
    setupFiles: ['test/setup/zod-locale.ts'],
    environment: 'node',
    fileParallelism: false,
    testTimeout: 600_000,
    hookTimeout: 900_000,
    pool: 'forks',
  },
});
