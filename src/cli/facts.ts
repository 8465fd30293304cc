// `rmagent facts`: this device's hardware, OS and network facts as one JSON object, as Asset Management sends them.
// The daemon runs it as a child for each hardware inventory (system/facts-child.ts), so systeminformation, its
// commands and their output live and die in that child instead of staying in the long-lived agent's memory.
import { readSystemFacts } from '../system/packages.js';
import { commonFlagsSchema, parseFlags, type CliIO } from './options.js';

export const USAGE = 'usage: rmagent facts [--json]\n  prints this device\'s hardware, OS and network facts (what a hardware inventory sends) as JSON.';

export default async function factsCommand(argv: string[], io: CliIO): Promise<number> {
  parseFlags(argv, {}, commonFlagsSchema());
  io.out(JSON.stringify(await readSystemFacts()));
  return 0;
}
