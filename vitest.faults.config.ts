import { defineConfig } from 'vitest/config';

// Heavy fault-injection and property tests (npm run test:faults), bounded in count and time.
export default defineConfig({
  test: { name: 'faults', include: ['test/faults/**/*.test.ts'], environment: 'node', setupFiles: ['test/setup/zod-locale.ts'], testTimeout: 600_000, hookTimeout: 120_000, pool: 'forks', fileParallelism: false },
});
