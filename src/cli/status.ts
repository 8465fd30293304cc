// `rmagent status [--json]`: asks the running daemon, or reads its state files when it is not running.
// Exit 0 healthy, 1 degraded, 2 unhealthy, not running or not registered (README "Exit codes"); 64 usage.
// Whatever happens it prints the versioned status object, so a compliance script always has `schema` to check.
import { requestLocal } from '../system/local-socket.js';
import { problem } from '../protocol/errors.js';
import { statusSchema, statusExitCode, type AgentStatus } from '../agent/status.js';
import { statusFromStateFiles } from '../agent/status-fallback.js';
import { commonFlagsSchema, configFromFlags, parseFlags, type CliIO } from './options.js';
import { formatStatus } from './format-status.js';

export default async function statusCommand(argv: string[], io: CliIO): Promise<number> {
  const flags = parseFlags(argv, {}, commonFlagsSchema());
  const { config, ipcPath } = configFromFlags(flags, io);
  const answer = await requestLocal(ipcPath, { method: 'status' });
  let status: AgentStatus;
  const schema = statusSchema();
  const parsed = answer.ok ? schema.safeParse((answer.value as { status?: unknown }).status) : null;
  if (parsed?.success) status = parsed.data;
  else status = await statusFromStateFiles(config, Date.now(), answer.ok ? 'the daemon answered with an invalid status' : answer.message, schema);
  if (!answer.ok && answer.reason === 'denied') {
    // Another account: the daemon may well run, but this account cannot tell. Unhealthy as far as it knows (exit 2).
    status = { ...status, health: 'unhealthy', problems: [problem('STATUS_DENIED', answer.message), ...status.problems.filter((p) => p.code !== 'AGENT_NOT_RUNNING')] };
  }
  io.out(flags.json ? JSON.stringify(status, null, 2) : formatStatus(status));
  return statusExitCode(status);
}
