import { defineConfig } from 'vitest/config';

// Two projects (see test/README.md): unit = pure decisions, fast, no I/O;
// integration = real files, sockets on loopback, child processes.
export default defineConfig({
  test: {
    projects: [
      { test: { name: 'unit', include: ['test/**/*.unit.test.ts'], environment: 'node', setupFiles: ['test/setup/zod-locale.ts'] } },
      {
        test: {
          name: 'integration',
          include: ['test/**/*.test.ts'],
          exclude: ['test/**/*.unit.test.ts', 'test/faults/**', 'test/container/**', 'node_modules/**'],
          environment: 'node',
          setupFiles: ['test/setup/zod-locale.ts'],
          globalSetup: ['test/setup/postgres.ts'],
          testTimeout: 60_000,
          hookTimeout: 60_000,
          pool: 'forks',
        },
      },
    ],
  },
});
