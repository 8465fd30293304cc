// Hostile-input properties of the config loader: random and mutated config files, random environment values.
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import fc from 'fast-check';
import { CONFIG_ENV_VARS, loadConfig } from '../../src/config/load.js';
import { isRmError } from '../../src/protocol/errors.js';
import { hostileString, hostileValue, mutateAt, mutatedText, mutation, prototypeIsClean, type Tally } from './hostile.js';

const VALID_CONFIG = {
  stateDir: '/tmp/rm-state',
  logDir: '/tmp/rm-logs',
  logLevel: 'debug',
  teamviewer: { root: '/', detectIntervalSec: 60, required: false },
  connection: { heartbeatSec: 10, allowInsecure: false, commandWindowSec: 60 },
  statusIntervalSec: 60,
};

/** loadConfig either returns a config or throws RmError CONFIG_INVALID/CONFIG_UNREADABLE with a bounded message. */
function loadsOrRefuses(options: Parameters<typeof loadConfig>[0]): boolean {
  try {
    const { config } = loadConfig(options);
    if (typeof config.stateDir !== 'string' || Object.getPrototypeOf(config) !== Object.prototype) throw new Error('config without a prototype or stateDir');
  } catch (err) {
    if (!isRmError(err)) throw err;
    if (err.code !== 'CONFIG_INVALID' && err.code !== 'CONFIG_UNREADABLE') throw new Error(`unexpected code ${err.code}`, { cause: err });
    if (err.message.length > 4096) throw new Error(`error message of ${err.message.length} chars`, { cause: err });
  }
  return prototypeIsClean();
}

export function runConfigProperties(runs: number, tally: Tally, dir: string, seed?: number): void {
  const params = (n: number) => ({ numRuns: n, ...(seed === undefined ? {} : { seed }) });
  const file = path.join(dir, 'config.json');
  const fromFile = (text: string) => {
    writeFileSync(file, text);
    return loadsOrRefuses({ configFile: file, env: {}, platform: 'linux' });
  };

  fc.assert(fc.property(mutatedText(fc.constant(JSON.stringify(VALID_CONFIG))), fromFile), params(runs));
  tally.add('loadConfig: mutated/garbage files', runs);

  fc.assert(fc.property(mutation, (m) => fromFile(JSON.stringify(mutateAt(VALID_CONFIG, m.steps, m.key, m.value)))), params(runs));
  tally.add('loadConfig: mutated valid files', runs);

  fc.assert(fc.property(hostileValue, (v) => fromFile(JSON.stringify(v) ?? 'undefined')), params(runs));
  tally.add('loadConfig: hostile JSON values', runs);

  const env = fc.dictionary(fc.constantFrom(...CONFIG_ENV_VARS, 'RMAGENT_CONFIG'), hostileString, { maxKeys: 6 });
  fc.assert(
    fc.property(env, (vars) => {
      writeFileSync(file, JSON.stringify(VALID_CONFIG));
      // RMAGENT_CONFIG may point anywhere (a traversal, a folder, nothing): refused or read, never a crash.
      return loadsOrRefuses({ env: { RMAGENT_CONFIG: file, ...vars }, platform: 'linux' });
    }),
    params(runs),
  );
  tally.add('loadConfig: hostile environment', runs);
}
