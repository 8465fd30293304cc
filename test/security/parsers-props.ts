// Hostile-input properties of the pure parsers (TeamViewer traces, package and update listings) and of the
// policy schemas: mutated fixtures, garbage, huge lines. Each answers (a value, null or a typed failure) in
// bounded time and never throws; schemas never hand back an object whose prototype was replaced.
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import fc from 'fast-check';
import type { z } from 'zod/mini';
import { parseGlobalConf } from '../../src/teamviewer/parse/global-conf.js';
import { parseDpkgStatus, parseRpmQuery } from '../../src/teamviewer/parse/packages.js';
import { parsePlistXml } from '../../src/teamviewer/parse/plist.js';
import { hexBytes, normalizeKeyPath, parseRegQuery } from '../../src/teamviewer/parse/reg-query.js';
import { parseLaunchctlPrint, parseScQuery } from '../../src/teamviewer/parse/service-state.js';
import { parseTeamViewerInfo } from '../../src/teamviewer/parse/teamviewer-info.js';
import { parseVersion } from '../../src/teamviewer/parse/version.js';
import { parseDpkgQuery, parseInfoPlist, parseRegUninstall, parseRpmQa } from '../../src/services/assets/software-parse.js';
import { parseAptUpgradable, parseDnfCheckUpdate, parseSoftwareUpdateList, parseWindowsUpdateJson } from '../../src/services/patches/updates-parse.js';
import { createExcluder, resolveInside } from '../../src/services/backup/manifest.js';
import { assetsPolicySchema } from '../../src/protocol/policies/assets.js';
import { backupPolicySchema } from '../../src/protocol/policies/backup.js';
import { patchesPolicySchema } from '../../src/protocol/policies/patches.js';
import { POLICY_SCHEMAS } from '../../src/server/policy-schemas.js';
import { DesiredStateSchema, PolicySchema, SERVICE_NAMES } from '../../src/protocol/model.js';
import { SPECIAL_STRINGS, hostileString, hostileValue, mutateAt, mutatedText, mutation, prototypeIsClean, type Tally } from './hostile.js';

const FIXTURES = path.resolve('test/fixtures');
function fixtureTexts(match: RegExp): string[] {
  const out: string[] = [];
  const walk = (dir: string) => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const p = path.join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (match.test(e.name)) out.push(readFileSync(p, 'latin1'));
    }
  };
  walk(FIXTURES);
  return out.length ? out : ['x'];
}

/** A backup exclude glob and a file name that take seconds to match (nested backtracking in globToRegExp). */
export const KNOWN_SLOW_GLOB = { glob: '*a*a*a*a*a*a*a*a*a*b', name: 'a'.repeat(40) };

/** Slowest call seen per parser: a parser that takes seconds on 100 kB is a denial of service. */
export const slowest = new Map<string, number>();
// Generous: the heavy run shares small CI machines; a real quadratic parser takes far longer on 200 kB.
const SLOW_MS = 3_000;

interface Target { name: string; seeds: RegExp; run(text: string): unknown }
const TARGETS: Target[] = [
  { name: 'global.conf', seeds: /^global\.conf$/, run: parseGlobalConf },
  { name: 'teamviewer info', seeds: /^info\.txt$/, run: parseTeamViewerInfo },
  { name: 'reg query', seeds: /^reg.*\.txt$/, run: (t) => parseRegQuery(t) },
  { name: 'plist xml', seeds: /\.plist$/, run: parsePlistXml },
  { name: 'sc query', seeds: /^sc.*\.txt$/, run: (t) => [parseScQuery(0, t), parseScQuery(1060, t), parseScQuery(null, t)] },
  { name: 'launchctl print', seeds: /^launchctl.*\.txt$/, run: (t) => [parseLaunchctlPrint(0, t), parseLaunchctlPrint(113, t)] },
  { name: 'dpkg status (TeamViewer)', seeds: /^dpkg.*\.txt$/, run: (t) => parseDpkgStatus('teamviewer-host', t) },
  { name: 'rpm query (TeamViewer)', seeds: /^rpm.*\.txt$/, run: (t) => parseRpmQuery('teamviewer', t) },
  { name: 'version', seeds: /^info\.txt$/, run: (t) => parseVersion(t.slice(0, 200)) },
  { name: 'registry key path / hex', seeds: /^reg.*\.txt$/, run: (t) => [normalizeKeyPath(t.slice(0, 300)), hexBytes(t.slice(0, 300))] },
  { name: 'dpkg-query', seeds: /^dpkg-query\.txt$/, run: parseDpkgQuery },
  { name: 'rpm -qa', seeds: /^rpm-qa\.txt$/, run: parseRpmQa },
  { name: 'reg uninstall', seeds: /^reg-uninstall.*\.txt$/, run: (t) => parseRegUninstall(t, 'x64') },
  { name: 'Info.plist (software)', seeds: /^Info\.plist$/, run: (t) => parseInfoPlist(t, '/Applications/X.app') },
  { name: 'apt upgradable', seeds: /^apt-upgradable\.txt$/, run: parseAptUpgradable },
  { name: 'dnf check-update', seeds: /^dnf-check-update\.txt$/, run: parseDnfCheckUpdate },
  { name: 'softwareupdate -l', seeds: /^softwareupdate-l\.txt$/, run: parseSoftwareUpdateList },
  { name: 'Windows Update JSON', seeds: /^windows-update\.json$/, run: parseWindowsUpdateJson },
];

function timed(name: string, fn: () => unknown): unknown {
  const start = performance.now();
  const value = fn();
  const ms = performance.now() - start;
  if (ms > (slowest.get(name) ?? 0)) slowest.set(name, ms);
  if (ms > SLOW_MS) throw new Error(`${name} took ${ms.toFixed(0)} ms`);
  return value;
}

const lines = fc.array(fc.oneof(hostileString, fc.string({ maxLength: 80 })), { maxLength: 60 }).map((l) => l.join(fc.sample(fc.constantFrom('\n', '\r\n', '\r'), 1)[0]));

export function runParserProperties(runs: number, tally: Tally, seed?: number): void {
  const params = (n: number) => ({ numRuns: n, ...(seed === undefined ? {} : { seed }) });
  for (const target of TARGETS) {
    const seeds = fixtureTexts(target.seeds);
    const input = fc.oneof(
      { arbitrary: mutatedText(fc.constantFrom(...seeds)), weight: 4 },
      { arbitrary: lines, weight: 2 },
      { arbitrary: fc.constantFrom(...seeds).map((s) => s.repeat(Math.ceil(200_000 / Math.max(s.length, 1))).slice(0, 200_000)), weight: 1 },
      { arbitrary: fc.integer({ min: 10_000, max: 100_000 }).map((n) => fc.sample(fc.constantFrom('a', ' ', '=', '"', '<', '0', '\\', '.', '-', ':'), 1)[0]!.repeat(n)), weight: 1 },
    );
    fc.assert(fc.property(input, (text) => (timed(target.name, () => target.run(text)), prototypeIsClean())), params(runs));
    tally.add(`parser: ${target.name}`, runs);
  }

  // Path traversal: whatever a manifest says, a restored file lands inside the restore folder.
  const base = path.resolve('/srv/restore/target');
  const traversal = fc.oneof(hostileString, fc.array(fc.constantFrom('..', '.', 'a', '', 'b c', 'C:', '\\..', '%2e%2e', '\0', '…'), { maxLength: 8 }).map((s) => s.join('/')));
  fc.assert(
    fc.property(traversal, (rel) => {
      const full = resolveInside(base, rel);
      return full === null || (full.startsWith(base + path.sep) && !path.relative(base, full).split(path.sep).includes('..'));
    }),
    params(runs),
  );
  tally.add('backup: restore path traversal', runs);

  // Exclusion globs come from a policy: any glob, however many stars, compiles and matches without throwing
  // and without stalling (the slowest call is checked like every parser's).
  const glob = fc.oneof(hostileString.map((s) => s.slice(0, 512)), fc.array(fc.constantFrom('*', '**', '?', 'a', '/', '.', '[', '(', '\\', '**/'), { maxLength: 40 }).map((p) => p.join('')));
  fc.assert(
    fc.property(fc.array(glob, { maxLength: 8 }), fc.oneof(hostileString, fc.constant('a/'.repeat(200) + 'b')), (globs, rel) => {
      timed('backup exclude globs', () => createExcluder(globs)(rel.slice(0, 4096)));
      return true;
    }),
    params(runs),
  );
  tally.add('backup: exclude globs', runs);

  // Policy settings schemas of the agent's services and of the server's registry.
  const schemas: Array<[string, z.ZodMiniType, unknown]> = [
    ['assets policy', assetsPolicySchema, assetsPolicySchema.parse({})],
    ['backup policy', backupPolicySchema, backupPolicySchema.parse({})],
    ['patches policy', patchesPolicySchema, patchesPolicySchema.parse({})],
    ...SERVICE_NAMES.map((s): [string, z.ZodMiniType, unknown] => [`server ${s} settings`, POLICY_SCHEMAS[s], s === 'monitoring' ? { checks: [{ type: 'cpu', threshold: 90, severity: 'warning' }] } : {}]),
    ['Policy', PolicySchema, { id: 'p-1', name: 'n', service: 'backup', version: 1, settings: {} }],
    ['DesiredState', DesiredStateSchema, { revision: 1, services: { backup: { policy: { id: 'p-1', name: 'n', service: 'backup', version: 1, settings: {} } } } }],
  ];
  for (const [name, schema, valid] of schemas) {
    const candidate = fc.oneof(hostileValue, mutation.map((m) => mutateAt(valid, m.steps, m.key, m.value)), fc.constantFrom(...SPECIAL_STRINGS));
    fc.assert(
      fc.property(candidate, (value) => {
        const r = timed(name, () => schema.safeParse(JSON.parse(JSON.stringify(value) ?? 'null'))) as { success: boolean; data?: unknown };
        if (r.success && r.data && typeof r.data === 'object' && !Array.isArray(r.data) && Object.getPrototypeOf(r.data) !== Object.prototype) return false;
        return prototypeIsClean();
      }),
      params(runs),
    );
    tally.add(`schema: ${name}`, runs);
  }
}
