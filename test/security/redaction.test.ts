import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { createLogger, type Logger } from '../../src/log.js';
import { generateKeyPair } from '../../src/protocol/sign.js';
import { findSecrets } from './secrets.js';

const token = 'enroll-TOKEN-5f1c9a7e2b';
const apiToken = 'owner-api-9d8c7b6a5f4e3d2c';
const password = 'hunter2-Correct-Horse';
const pem = generateKeyPair().privateKeyPem;
const SECRETS = [token, apiToken, password, pem];

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
// Bounded: winston's 'finish' may not come when end() meets a rotation; the files are read either way.
async function finish(logger: Logger): Promise<void> {
  await Promise.race([new Promise<void>((resolve) => logger.on('finish', () => resolve()).end()), sleep(3_000)]);
  await sleep(300); // the file transport flushes after 'finish'
}
const allLogText = (dir: string) => readdirSync(dir).map((f) => readFileSync(path.join(dir, f), 'utf8')).join('\n');

describe('log redaction, written to a real rotated log file', () => {
  it('keeps tokens, keys, passwords and bearer headers out of every file, while the rest of the line stays', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'rmagent-logs-'));
    const logger = createLogger({ logDir: dir, console: false, level: 'debug', maxSize: 4 * 1024, maxFiles: 50 });
    logger.info('started');
    await sleep(100); // a burst before the file is open stalls winston's rotation
    for (let i = 0; i < 20; i++) {
      await sleep(5);
      logger.info('enrolling', { token, enrollmentToken: token, serverUrl: 'wss://127.0.0.1/agent', round: i });
      logger.info(`request Authorization: Bearer ${apiToken} answered`);
      logger.warn('connect failed', { url: `wss://127.0.0.1:1/agent?token=${token}&x=1` });
      logger.debug('key loaded', { privateKeyPem: pem, note: `inline ${pem}` });
      logger.info('nested', { a: { b: { c: [{ password }, { apiKey: apiToken }] } }, headers: { authorization: `Bearer ${apiToken}` } });
      logger.error('enroll failed', { error: new Error(`server said: token=${token} is unknown`) });
      logger.error(new Error(`password=${password} rejected`));
      logger.info(`form body secret=${password}&user=alice`);
      logger.info('deep', { l1: { l2: { l3: { l4: { l5: { l6: { l7: { l8: { l9: { l10: { secret: password } } } } } } } } } } });
    }
    await finish(logger);
    const files = readdirSync(dir);
    expect(files.length).toBeGreaterThan(1); // rotation happened: every file is scanned
    const text = allLogText(dir);
    expect(findSecrets(text, SECRETS)).toEqual([]);
    expect(text).toContain('wss://127.0.0.1/agent');
    expect(text).toContain('[redacted]');
    expect(text).toContain('enroll failed');
  });

  it('keeps a secret out of a logged raw frame (JSON text holding "token": ...)', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'rmagent-logs-'));
    const logger = createLogger({ logDir: dir, console: false });
    const frame = JSON.stringify({ v: 2, id: 'e1', type: 'enroll', ts: 1, body: { token, publicKey: 'AAAA', facts: {} } });
    logger.warn('invalid frame', { text: frame });
    logger.warn(`invalid frame ${frame}`);
    await finish(logger);
    const text = allLogText(dir);
    expect(findSecrets(text, SECRETS)).toEqual([]);
    expect(text).toContain('"type\\":\\"enroll'); // the frame itself is still there to debug
  });

  it('survives a transport error instead of crashing the agent', () => {
    const logger = createLogger({ console: false });
    expect(() => logger.emit('error', new Error(`disk full token=${token}`))).not.toThrow();
  });
});
