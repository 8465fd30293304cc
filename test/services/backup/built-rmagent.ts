// Backup jobs run as real `rmagent backup-job` children of the built CLI (`npm test` builds first; after a
// change run `npm run build` before a targeted vitest run).
import path from 'node:path';

export const BUILT_RMAGENT = { command: process.execPath, args: [path.resolve('build/src/cli/rmagent.js')] };
