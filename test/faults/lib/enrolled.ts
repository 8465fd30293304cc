// One real reference server and one registered (not yet started) agent home, as the fault tests need them.
import { agentHome, assertBuilt, startServer, tempDir, type AgentHome, type ServerProcess } from '../../e2e/harness.js';

export interface Report { seq: number; kind: string }
export interface CommandRecord { id: string; type: string; status: string; reason: { code: string } | null; createdAt: number }

export async function serverAndAgent(
  name: string,
  agentEnv: NodeJS.ProcessEnv = {},
  serverUrl?: (s: ServerProcess) => string | Promise<string>,
  beforeEnroll?: (home: AgentHome) => void,
): Promise<{ server: ServerProcess; home: AgentHome; serverData: string }> {
  assertBuilt();
  const serverData = tempDir(`${name}-server`);
  const server = await startServer(serverData);
  const home = await agentHome(name, agentEnv);
  beforeEnroll?.(home);
  const created = await server.api<{ token: string }>('POST', '/enrollment-tokens', { expiresInSec: 3600, maxUses: 5 });
  const url = serverUrl ? await serverUrl(server) : server.agentUrl;
  const enrolled = await home.cli('enroll', '--server', url, '--token', created.body.token, '--server-key', server.serverKey);
  if (enrolled.code !== 0) throw new Error(`enroll failed: ${enrolled.stderr}`);
  return { server, home, serverData };
}

/** Every report the server holds above `after`, paged (the server keeps the last 500 per device). */
export async function reportsAfter(server: ServerProcess, deviceId: string, after: number): Promise<Report[]> {
  const out: Report[] = [];
  for (let page = 0; page < 100; page++) {
    const { body } = await server.api<{ reports: Report[] }>('GET', `/devices/${deviceId}/reports?after=${after}&limit=500`);
    out.push(...body.reports);
    if (body.reports.length < 500) break;
    after = body.reports.at(-1)!.seq;
  }
  return out;
}

export async function commandsOf(server: ServerProcess, deviceId: string): Promise<CommandRecord[]> {
  return (await server.api<{ commands: CommandRecord[] }>('GET', `/devices/${deviceId}/commands`)).body.commands;
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
export { tempDir };
