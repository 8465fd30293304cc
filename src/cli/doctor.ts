// Placeholder until the command lands (being built now); replaced, not kept.
import { RmError } from '../protocol/errors.js';
import type { CliIO } from './options.js';

export default async function doctorCommand(_argv: string[], _io: CliIO): Promise<number> {
  throw new RmError('INTERNAL', 'rmagent doctor is not built yet');
}
