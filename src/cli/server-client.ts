// `rmagent-server <command>`: the console API from a shell, so scripts need no curl. Each command parses and
// validates its flags (zod), makes its calls and prints a table, or the API's JSON with --json.
import { parseArgs, type ParseArgsConfig } from 'node:util';
import * as z from 'zod/mini';
import { RmError } from '../protocol/errors.js';
import { allPages, apiClient, resolveConnection, type ApiCall } from './api-client.js';
import type { CliIO } from './options.js';

const CONNECTION_FLAGS = {
  url: { type: 'string' },
  'token-file': { type: 'string' },
  data: { type: 'string' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const satisfies ParseArgsConfig['options'];
const ConnectionSchema = {
  url: z.optional(z.string().check(z.regex(/^https?:\/\/\S+$/, 'an http:// or https:// URL'))),
  'token-file': z.optional(z.string().check(z.minLength(1))),
  data: z.optional(z.string().check(z.minLength(1))),
  json: z.optional(z.boolean()),
  help: z.optional(z.boolean()),
};
export const CONNECTION_USAGE = 'connection: --url URL (or RMAGENT_SERVER_URL) --token-file FILE (or RMAGENT_API_TOKEN), or --data DIR of a server on this machine; --json prints the API answer';

const Tag = z.string().check(z.regex(/^[A-Za-z0-9._:/-]{1,64}$/, 'a tag: letters, digits and . _ : / -'));
const Id = z.string().check(z.regex(/^[A-Za-z0-9._:-]{1,128}$/, 'an id'));
const many = <S extends z.ZodMiniType>(s: S) => z._default(z.array(s).check(z.maxLength(10_000)), []);
const count = (min: number, max: number) => z.coerce.number().check(z.int(), z.gte(min), z.lte(max));
/** 90s, 30m, 12h, 7d or plain seconds. */
const Duration = z.pipe(
  z.string().check(z.regex(/^\d+[smhd]?$/, 'a duration like 3600, 30m, 12h or 7d')),
  z.transform((v: string) => Number(v.replace(/[smhd]$/, '')) * ({ s: 1, m: 60, h: 3600, d: 86_400 }[v.at(-1) ?? 's'] ?? 1)),
);

interface Command<S extends z.ZodMiniType> {
  usage: string;
  summary: string;
  options: ParseArgsConfig['options'];
  schema: S;
  /** Positional arguments: exactly this many (or at least min, with max). */
  positionals: { min: number; max: number; name: string };
  run(call: ApiCall, flags: z.infer<S>, args: string[], io: CliIO): Promise<number>;
}
const command = <S extends z.ZodMiniType>(c: Command<S>) => c as unknown as Command<z.ZodMiniType>;

function table(io: CliIO, header: string[], rows: string[][]): void {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!))).join('  ');
  io.out(line(header));
  for (const r of rows) io.out(line(r));
}

const when = (iso: string | null) => (iso ? iso.replace('T', ' ').replace(/\.\d+Z$/, 'Z') : '-');
const print = (io: CliIO, json: boolean | undefined, value: unknown, human: () => void) => (json ? io.out(JSON.stringify(value, null, 2)) : human());

interface TokenAnswer { id: string; token: string; label: string | null; maxUses: number | null; uses: number; expiresAtIso: string | null; tags: string[]; revoked: boolean }
interface DeviceAnswer { id: string; alias: string | null; hostname: string; platform: string; online: boolean; lastSeenIso: string | null; tags: string[]; services: Array<{ name: string; phase: string | null }> }
interface AlertAnswer { id: string; alias: string | null; hostname: string | null; severity: string; service: string; message: string; open: boolean; raisedAtIso: string; ackedBy: string | null }

export const CLIENT_COMMANDS: Record<string, Command<z.ZodMiniType>> = {
  'token create': command({
    usage: 'token create [--max-uses N | --unlimited] [--expires-in 1d] [--label TEXT] [--tag TAG]...',
    summary: 'create an enrollment token (one use and one day by default); prints the token once',
    options: { 'max-uses': { type: 'string' }, unlimited: { type: 'boolean' }, 'expires-in': { type: 'string' }, label: { type: 'string' }, tag: { type: 'string', multiple: true } },
    schema: z.object({ ...ConnectionSchema, 'max-uses': z._default(count(1, 1_000_000), 1), unlimited: z.optional(z.boolean()), 'expires-in': z._default(Duration, 86_400), label: z.optional(z.string().check(z.maxLength(200))), tag: many(Tag) })
      .check(z.refine((f) => !(f.unlimited && f['max-uses'] !== 1), { message: 'give --max-uses or --unlimited, not both', path: ['unlimited'] })),
    positionals: { min: 0, max: 0, name: '' },
    async run(call, f, _args, io) {
      const t = await call<TokenAnswer>('POST', '/enrollment-tokens', { maxUses: f.unlimited ? null : f['max-uses'], expiresInSec: f['expires-in'], label: f.label ?? null, tags: f.tag });
      print(io, f.json, t, () => {
        io.out(t.token);
        io.out(`id ${t.id}, ${t.maxUses === null ? 'any number of uses' : `${t.maxUses} use(s)`}, expires ${when(t.expiresAtIso)}${t.tags.length ? `, tags ${t.tags.join(',')}` : ''}`);
      });
      return 0;
    },
  }),
  'token list': command({
    usage: 'token list [--include-revoked]',
    summary: 'list enrollment tokens (never the secret)',
    options: { 'include-revoked': { type: 'boolean' } },
    schema: z.object({ ...ConnectionSchema, 'include-revoked': z.optional(z.boolean()) }),
    positionals: { min: 0, max: 0, name: '' },
    async run(call, f, _args, io) {
      const tokens = await allPages<TokenAnswer>(call, `/enrollment-tokens?includeRevoked=${f['include-revoked'] ? 'true' : 'false'}`, 'tokens');
      print(io, f.json, { tokens }, () => table(io, ['ID', 'LABEL', 'USES', 'EXPIRES', 'TAGS', 'REVOKED'], tokens.map((t) => [t.id, t.label ?? '-', `${t.uses}/${t.maxUses ?? '∞'}`, when(t.expiresAtIso), t.tags.join(',') || '-', t.revoked ? 'yes' : 'no'])));
      return 0;
    },
  }),
  'token revoke': command({
    usage: 'token revoke ID',
    summary: 'revoke an enrollment token: no device enrolls with it any more',
    options: {},
    schema: z.object(ConnectionSchema),
    positionals: { min: 1, max: 1, name: 'ID' },
    async run(call, f, [id], io) {
      const t = await call<TokenAnswer>('DELETE', `/enrollment-tokens/${encodeURIComponent(Id.parse(id))}`);
      print(io, f.json, t, () => io.out(`revoked ${t.id}`));
      return 0;
    },
  }),
  'devices list': command({
    usage: 'devices list [--tag TAG]... [--search TEXT]',
    summary: 'list devices (every page), optionally those carrying all the tags or matching a name',
    options: { tag: { type: 'string', multiple: true }, search: { type: 'string' } },
    schema: z.object({ ...ConnectionSchema, tag: many(Tag), search: z.optional(z.string().check(z.minLength(1), z.maxLength(128))) }),
    positionals: { min: 0, max: 0, name: '' },
    async run(call, f, _args, io) {
      const query = [...f.tag.map((t) => `tag=${encodeURIComponent(t)}`), ...(f.search ? [`search=${encodeURIComponent(f.search)}`] : [])].join('&');
      const devices = await allPages<DeviceAnswer>(call, `/devices${query ? `?${query}` : ''}`, 'devices');
      print(io, f.json, { devices }, () =>
        table(io, ['ID', 'NAME', 'PLATFORM', 'ONLINE', 'LAST SEEN', 'TAGS', 'SERVICES'], devices.map((d) => [d.id, d.alias ?? d.hostname, d.platform, d.online ? 'yes' : 'no', when(d.lastSeenIso), d.tags.join(',') || '-', d.services.map((s) => `${s.name}:${s.phase ?? '-'}`).join(' ') || '-'])),
      );
      return 0;
    },
  }),
  'devices tag': command({
    usage: 'devices tag ID... [--add TAG]... [--remove TAG]...',
    summary: 'add and remove tags on devices',
    options: { add: { type: 'string', multiple: true }, remove: { type: 'string', multiple: true } },
    schema: z.object({ ...ConnectionSchema, add: many(Tag), remove: many(Tag) }).check(z.refine((f) => f.add.length + f.remove.length > 0, { message: 'give --add or --remove', path: ['add'] })),
    positionals: { min: 1, max: 10_000, name: 'ID' },
    async run(call, f, ids, io) {
      const r = await call<{ devices: number }>('POST', '/devices/tags', { deviceIds: ids.map((id) => Id.parse(id)), add: f.add, remove: f.remove });
      print(io, f.json, r, () => io.out(`tags changed on ${r.devices} device(s)`));
      return 0;
    },
  }),
  'devices delete': command({
    usage: 'devices delete ID --yes',
    summary: "delete a device: its key is revoked (the agent is refused with DEVICE_REVOKED) and its data removed",
    options: { yes: { type: 'boolean' } },
    schema: z.object({ ...ConnectionSchema, yes: z.literal(true, 'add --yes: the device will have to enroll again') }),
    positionals: { min: 1, max: 1, name: 'ID' },
    async run(call, f, [id], io) {
      const r = await call<{ id: string; revokedAtIso: string }>('DELETE', `/devices/${encodeURIComponent(Id.parse(id))}`);
      print(io, f.json, r, () => io.out(`deleted ${r.id} (key revoked ${when(r.revokedAtIso)})`));
      return 0;
    },
  }),
  activate: command({
    usage: 'activate SERVICE --policy ID (--device ID | --tag TAG)...',
    summary: 'activate a service with a policy on devices, by id and/or tag',
    options: { policy: { type: 'string' }, device: { type: 'string', multiple: true }, tag: { type: 'string', multiple: true } },
    schema: z.object({ ...ConnectionSchema, policy: Id, device: many(Id), tag: many(Tag) }).check(z.refine((f) => f.device.length + f.tag.length > 0, { message: 'give --device or --tag', path: ['device'] })),
    positionals: { min: 1, max: 1, name: 'SERVICE' },
    async run(call, f, [service], io) {
      const r = await call<{ service: string; policy: { id: string; version: number }; devices: Array<{ deviceId: string; online: boolean; commandId: string | null }> }>('POST', `/services/${encodeURIComponent(service!)}/activate`, { policyId: f.policy, deviceIds: f.device, tags: f.tag });
      print(io, f.json, r, () => {
        io.out(`${r.service} activated with policy ${r.policy.id} v${r.policy.version} on ${r.devices.length} device(s)`);
        table(io, ['DEVICE', 'ONLINE', 'COMMAND'], r.devices.map((d) => [d.deviceId, d.online ? 'yes' : 'no (gets it when it connects)', d.commandId ?? '-']));
      });
      return 0;
    },
  }),
  'licence issue': command({
    usage: 'licence issue --product SERVICE --seats N --email ADDRESS',
    summary: 'issue a licence with N device seats; its activation e-mail goes to ADDRESS (DATA/mail/ or SMTP)',
    options: { product: { type: 'string' }, seats: { type: 'string' }, email: { type: 'string' } },
    schema: z.object({ ...ConnectionSchema, product: z.string().check(z.regex(/^[a-z-]{1,64}$/, 'a service name (monitoring, assets, patches, backup)')), seats: count(1, 1_000_000), email: z.string().check(z.regex(/^\S+@\S+$/, 'an e-mail address')) }),
    positionals: { min: 0, max: 0, name: '' },
    async run(call, f, _args, io) {
      const r = await call<{ id: string; title: string; seats: number; mailedTo: string }>('POST', '/licences', { product: f.product, seats: f.seats, email: f.email });
      print(io, f.json, r, () => io.out(`licence ${r.id}: ${r.title}, ${r.seats} device seats; activation e-mail sent to ${r.mailedTo}`));
      return 0;
    },
  }),
  'licence list': command({
    usage: 'licence list',
    summary: 'list licences and the seats used per product',
    options: {},
    schema: z.object(ConnectionSchema),
    positionals: { min: 0, max: 0, name: '' },
    async run(call, f, _args, io) {
      const r = await call<{ licences: Array<{ id: string; title: string; seats: number; email: string; activated: boolean; activatedBy: string | null }>; seats: Array<{ product: string; total: number; used: number; free: number }> }>('GET', '/licences?limit=500');
      print(io, f.json, r, () => {
        table(io, ['ID', 'PRODUCT', 'SEATS', 'E-MAIL', 'ACTIVATED BY'], r.licences.map((l) => [l.id, l.title, String(l.seats), l.email, l.activated ? (l.activatedBy ?? '?') : '- (not activated)']));
        for (const s of r.seats) io.out(`${s.product}: ${s.used} of ${s.total} seats used, ${s.free} free`);
      });
      return 0;
    },
  }),
  deactivate: command({
    usage: 'deactivate SERVICE (--device ID | --tag TAG)...',
    summary: 'deactivate a service on devices, by id and/or tag',
    options: { device: { type: 'string', multiple: true }, tag: { type: 'string', multiple: true } },
    schema: z.object({ ...ConnectionSchema, device: many(Id), tag: many(Tag) }).check(z.refine((f) => f.device.length + f.tag.length > 0, { message: 'give --device or --tag', path: ['device'] })),
    positionals: { min: 1, max: 1, name: 'SERVICE' },
    async run(call, f, [service], io) {
      const r = await call<{ service: string; devices: unknown[] }>('POST', `/services/${encodeURIComponent(service!)}/deactivate`, { deviceIds: f.device, tags: f.tag });
      print(io, f.json, r, () => io.out(`${r.service} deactivated on ${r.devices.length} device(s)`));
      return 0;
    },
  }),
  'alerts list': command({
    usage: 'alerts list [--open]',
    summary: "list alerts in the account's scope (every page), newest first",
    options: { open: { type: 'boolean' } },
    schema: z.object({ ...ConnectionSchema, open: z.optional(z.boolean()) }),
    positionals: { min: 0, max: 0, name: '' },
    async run(call, f, _args, io) {
      const alerts = await allPages<AlertAnswer>(call, `/alerts${f.open ? '?open=true' : ''}`, 'alerts');
      print(io, f.json, { alerts }, () =>
        table(io, ['ID', 'DEVICE', 'SEVERITY', 'SERVICE', 'RAISED', 'STATE', 'MESSAGE'], alerts.map((a) => [a.id, a.alias ?? a.hostname ?? '-', a.severity, a.service, when(a.raisedAtIso), `${a.open ? 'open' : 'cleared'}${a.ackedBy ? ', acked' : ''}`, a.message])),
      );
      return 0;
    },
  }),
  'alerts ack': command({
    usage: 'alerts ack ID...',
    summary: 'acknowledge alerts',
    options: {},
    schema: z.object(ConnectionSchema),
    positionals: { min: 1, max: 1_000, name: 'ID' },
    async run(call, f, ids, io) {
      const acked: Array<{ alert: AlertAnswer }> = [];
      for (const id of ids) acked.push(await call<{ alert: AlertAnswer }>('POST', `/alerts/${encodeURIComponent(Id.parse(id))}/ack`));
      print(io, f.json, { acked: acked.map((a) => a.alert) }, () => acked.forEach((a) => io.out(`acknowledged ${a.alert.id}`)));
      return 0;
    },
  }),
  'policies list': command({
    usage: 'policies list [--service NAME]',
    summary: 'list policies',
    options: { service: { type: 'string' } },
    schema: z.object({ ...ConnectionSchema, service: z.optional(z.string().check(z.maxLength(64))) }),
    positionals: { min: 0, max: 0, name: '' },
    async run(call, f, _args, io) {
      const policies = await allPages<{ id: string; name: string; service: string; version: number }>(call, `/policies${f.service ? `?service=${encodeURIComponent(f.service)}` : ''}`, 'policies');
      print(io, f.json, { policies }, () => table(io, ['ID', 'SERVICE', 'VERSION', 'NAME'], policies.map((p) => [p.id, p.service, String(p.version), p.name])));
      return 0;
    },
  }),
};

/** Finds the command (one or two words) in argv; the rest are its arguments. */
export function findClientCommand(argv: string[]): { name: string; rest: string[] } | null {
  const two = argv.slice(0, 2).join(' ');
  if (CLIENT_COMMANDS[two]) return { name: two, rest: argv.slice(2) };
  if (argv[0] && CLIENT_COMMANDS[argv[0]]) return { name: argv[0], rest: argv.slice(1) };
  return null;
}

export async function runClientCommand(name: string, argv: string[], io: CliIO): Promise<number> {
  const c = CLIENT_COMMANDS[name]!;
  let parsed: { values: Record<string, unknown>; positionals: string[] };
  try {
    parsed = parseArgs({ args: argv, options: { ...CONNECTION_FLAGS, ...c.options }, strict: true, allowPositionals: true });
  } catch (err) {
    throw new RmError('CLI_USAGE', (err as Error).message);
  }
  if (parsed.values.help) {
    io.out(`usage: rmagent-server ${c.usage}\n  ${c.summary}\n  ${CONNECTION_USAGE}`);
    return 0;
  }
  const flags = c.schema.safeParse(parsed.values);
  if (!flags.success) {
    const issue = flags.error.issues[0]!;
    throw new RmError('CLI_USAGE', `--${issue.path.join('.')}: ${issue.message} (usage: rmagent-server ${c.usage})`);
  }
  const { min, max, name: what } = c.positionals;
  if (parsed.positionals.length < min || parsed.positionals.length > max) {
    throw new RmError('CLI_USAGE', `${max === 0 ? 'no arguments expected' : `expected ${min === max ? min : `${min} or more`} ${what}`} (usage: rmagent-server ${c.usage})`);
  }
  for (const arg of parsed.positionals) if (!/^[A-Za-z0-9._:/-]{1,128}$/.test(arg)) throw new RmError('CLI_USAGE', `${JSON.stringify(arg.slice(0, 40))} is not a valid ${what}`);
  const connection = await resolveConnection(flags.data as { url?: string; 'token-file'?: string; data?: string }, io.env);
  return c.run(apiClient(connection), flags.data, parsed.positionals, io);
}
