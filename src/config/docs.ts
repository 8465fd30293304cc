// docs/configuration.md, generated from the config schema so the two cannot drift.
import * as z from 'zod/mini';
import { configSchema } from './schema.js';
import { CONFIG_ENV_VARS } from './load.js';
import { defaultPaths } from './paths.js';

interface Row { key: string; type: string; def: string; what: string }

function rows(schema: z.ZodMiniType, prefix: string): Row[] {
  const json = z.toJSONSchema(schema, { io: 'input', unrepresentable: 'any' }) as { properties?: Record<string, Record<string, unknown>> };
  const out: Row[] = [];
  for (const [name, prop] of Object.entries(json.properties ?? {})) {
    const key = prefix ? `${prefix}.${name}` : name;
    if (prop.type === 'object' && prop.properties) {
      const shape = (schema as unknown as { shape: Record<string, z.ZodMiniType> }).shape[name]!;
      const inner = (shape._zod.def as { innerType?: z.ZodMiniType }).innerType ?? shape; // a defaulted section
      out.push(...rows(inner, key));
      continue;
    }
    const type = prop.enum ? (prop.enum as unknown[]).map((v) => JSON.stringify(v)).join(' \\| ') : String(prop.type ?? 'string');
    out.push({ key, type, def: prop.default === undefined ? '' : `\`${JSON.stringify(prop.default)}\``, what: String(prop.description ?? '') });
  }
  return out;
}

export function configurationMarkdown(): string {
  const table = rows(configSchema(), '')
    .map((r) => `| \`${r.key}\` | ${r.type} | ${r.def} | ${r.what.replace(/\|/g, '\\|')} |`)
    .join('\n');
  const p = { linux: defaultPaths('linux', {}), darwin: defaultPaths('darwin', {}), win32: defaultPaths('win32', { ProgramData: 'C:\\ProgramData' }) };
  return `# Configuration

<!-- Generated from src/config/schema.ts by \`npm run docs\`; a test fails when it is stale. -->

Sources, later ones winning: built-in defaults < the config file < \`RMAGENT_*\` environment variables <
command-line flags (\`--config FILE\`, \`--state-dir\`, \`--log-dir\`, \`--log-level\`, \`--ipc-path\`,
\`--teamviewer-root\`). An invalid value stops the agent with \`CONFIG_INVALID\`, naming the key, the value and
what is allowed. Unknown keys are refused (a typo must not be silently ignored). The file says what the agent runs
as root (\`teamviewer.path\` is searched first for every command) and where it keeps its keys, so on Linux and macOS
a config file that does not belong to root (or the agent's account) or that another account can write (group
write is allowed for group root only) stops the agent, \`doctor\` and \`status\` with \`CONFIG_UNSAFE\`; on Windows
the installer's DACLs lock it.

| | config file | state | logs |
|---|---|---|---|
| Linux | ${p.linux.configFile} | ${p.linux.stateDir} | ${p.linux.logDir} |
| macOS | ${p.darwin.configFile} | ${p.darwin.stateDir} | ${p.darwin.logDir} |
| Windows | ${p.win32.configFile} | ${p.win32.stateDir} | ${p.win32.logDir} |

The config file location can be changed with \`--config\` or \`RMAGENT_CONFIG\`.

The file is one JSON object nested by the dots of the keys below: \`connection.heartbeatSec\` is written
\`{"connection": {"heartbeatSec": 30}}\`, not as a dotted name.

## Keys

| key | type | default | meaning |
|---|---|---|---|
${table}

## Environment variables

${CONFIG_ENV_VARS.map((v) => `\`${v}\``).join(', ')}, and \`RMAGENT_CONFIG\` (the config file).
`;
}
