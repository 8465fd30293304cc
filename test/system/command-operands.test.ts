// `--` before operands: a value the agent passes to a command (an update name from a repository's listing, a
// path) must never be read as one of the command's options. The stand-ins below parse their arguments the way
// the real tools do (apt-get obeys `-oKEY=VALUE` before `--`, and runs a DPkg::Pre-Invoke hook through sh as
// root; dnf obeys `--setopt`), so the attack runs for real against them.
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { installUpdates } from '../../src/system/packages.js';
import { createCommandRunner } from '../../src/system/exec.js';
import { createNicedRunner } from '../../src/services/budget.js';
import { createSystemRunner } from '../../src/system/system-runner.js';
import { standIn, tempDir } from '../services/budget/service-runtime.js';

// apt-get's rule: options (and -o settings) until `--` or the first operand after the command word; after `--`
// everything is a package name.
const APT_GET = `
hook=""
seen_dd=0
for a in "$@"; do
  if [ $seen_dd = 0 ]; then
    case "$a" in
      --) seen_dd=1 ;;
      -oDPkg::Pre-Invoke::=*) hook="\${a#-oDPkg::Pre-Invoke::=}" ;;
    esac
  fi
done
[ -n "$hook" ] && sh -c "$hook"
exit 0`;
const DNF = `
for a in "$@"; do
  [ "$a" = "--" ] && break
  case "$a" in --setopt=*) sh -c "\${a#--setopt=}" ;; esac
done
exit 0`;

async function setUp(tools: Record<string, string>) {
  const { dir } = await tempDir('operands');
  const bin = path.join(dir, 'bin');
  for (const [name, script] of Object.entries(tools)) await standIn(bin, name, script);
  const runner = createCommandRunner({ path: bin });
  // Installs are changes to the machine (system-runner.ts); here as plain children (no systemd to hand them to).
  return { dir, ctx: { runner, root: '/', platform: 'linux' as const }, changes: createSystemRunner({ runner, workDir: dir, systemd: false }) };
}

describe('operands are never options', () => {
  it('apt-get: an update named like an option is a name, not a root hook', async () => {
    const { dir, changes } = await setUp({ 'apt-get': APT_GET });
    const marker = path.join(dir, 'pwned-apt');
    const result = await installUpdates(changes, 'apt', ['bash', `-oDPkg::Pre-Invoke::=touch ${marker}`]);
    expect(result.code).toBe(0);
    expect(existsSync(marker)).toBe(false);
  });

  it('dnf/yum: the same through --setopt', async () => {
    const { dir, changes } = await setUp({ dnf: DNF, yum: DNF });
    for (const manager of ['dnf', 'yum'] as const) {
      const marker = path.join(dir, `pwned-${manager}`);
      await installUpdates(changes, manager, [`--setopt=touch ${marker}`]);
      expect(existsSync(marker)).toBe(false);
    }
  });

  it('softwareupdate has no `--`: a label starting with "-" is refused before anything runs', async () => {
    const { dir, changes } = await setUp({ softwareupdate: `touch "${'$0'}.ran"` });
    const result = await installUpdates(changes, 'softwareupdate', ['--all', 'Safari 17']);
    expect(result).toMatchObject({ code: null, error: 'EINVAL' });
    expect(existsSync(path.join(dir, 'bin', 'softwareupdate.ran'))).toBe(false);
  });

  it('nice and ionice end their options before the command they run', async () => {
    const { dir, ctx } = await setUp({
      ionice: `echo "ionice $*" >> "${'$0'}.log"; while [ "$1" != "--" ]; do shift; done; shift; exec "$@"`,
      nice: `echo "nice $*" >> "${'$0'}.log"; while [ "$1" != "--" ]; do shift; done; shift; exec "$@"`,
      tool: 'exit 0',
    });
    const niced = createNicedRunner(ctx.runner, 'linux');
    expect((await niced.run('tool', ['-x', 'operand'])).code).toBe(0);
    const log = readFileSync(path.join(dir, 'bin', 'nice.log'), 'utf8');
    expect(log).toContain('nice -n 10 -- ionice -c 2 -n 7 -- tool -x operand');
  });
});
