// E-mail over SMTP: the licence activation e-mail reaches a local SMTP sink (smtp-server on loopback) through
// nodemailer, with the sender, the recipient and the link intact, and the credentials of the URL never in a log.
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import { SMTPServer } from 'smtp-server';
import { afterEach, describe, expect, it } from 'vitest';
import winston from 'winston';
import { startServer, type RunningServer } from '../../src/server/server.js';
import { createSmtpMailer } from '../../src/server/smtp-mailer.js';
import { apiOf, tempDir } from './helpers.js';

interface Received { from: string; to: string[]; raw: string; user: string | null }

async function smtpSink(): Promise<{ port: number; received: Received[]; close(): Promise<void> }> {
  const received: Received[] = [];
  const sink = new SMTPServer({
    secure: false,
    disabledCommands: ['STARTTLS'],
    authOptional: true,
    allowInsecureAuth: true,
    onAuth(auth, _session, callback) {
      if (auth.username === 'mailer' && auth.password === 's3cret-pass') return callback(null, { user: auth.username });
      return callback(new Error('bad credentials'));
    },
    onData(stream, session, callback) {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        received.push({ from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '', to: session.envelope.rcptTo.map((r) => r.address), raw: Buffer.concat(chunks).toString('utf8'), user: (session.user as string | undefined) ?? null });
        callback();
      });
    },
  });
  sink.listen(0, '127.0.0.1');
  await once(sink.server, 'listening');
  return { port: (sink.server.address() as AddressInfo).port, received, close: () => new Promise((resolve) => sink.close(() => resolve())) };
}

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

describe('SMTP mailer', () => {
  it('sends the licence activation e-mail through the SMTP server, authenticated, and logs the host only', async () => {
    const sink = await smtpSink();
    cleanups.push(sink.close);
    const lines: string[] = [];
    const stream = new Writable({ objectMode: true, write(info: Record<string, unknown>, _enc, done) { lines.push(JSON.stringify(info)); done(); } });
    const logger = winston.createLogger({ level: 'debug', transports: [new winston.transports.Stream({ stream })] });
    const mailer = createSmtpMailer(`smtp://mailer:s3cret-pass@127.0.0.1:${sink.port}`, 'licences@rm.example.com', { timeoutMs: 5_000 });
    expect(mailer.describe).toBe(`smtp 127.0.0.1:${sink.port}`);
    const server: RunningServer = await startServer({ host: '127.0.0.1', port: 0, dataDir: await tempDir(), logger, mailer, publicUrl: 'https://rm.example.com/' });
    cleanups.push(() => server.stop());
    const issued = await apiOf(server)('POST', '/licences', { product: 'backup', seats: 3, email: 'buyer@example.com' });
    expect(issued.status).toBe(201);
    expect(sink.received).toHaveLength(1);
    const [mail] = sink.received;
    expect(mail).toMatchObject({ from: 'licences@rm.example.com', to: ['buyer@example.com'], user: 'mailer' });
    expect(mail!.raw).toMatch(/^Subject: Activate your rmagent Backup licence \(3 device seats\)/m);
    const body = mail!.raw.replace(/=\r?\n/g, '').replace(/=([0-9A-F]{2})/g, (_m, hex: string) => String.fromCharCode(parseInt(hex, 16))); // quoted-printable
    expect(body).toContain('https://rm.example.com/console/activate#key=rml_');
    expect(lines.join('\n')).toContain(`smtp 127.0.0.1:${sink.port}`); // the licence issue names where its mail went
    expect(lines.join('\n')).not.toContain('s3cret-pass');
  });

  it('a refused SMTP login fails the call with a logged error and leaves the licence issued (the operator may issue again)', async () => {
    const sink = await smtpSink();
    cleanups.push(sink.close);
    const mailer = createSmtpMailer(`smtp://mailer:wrong@127.0.0.1:${sink.port}`, 'licences@rm.example.com', { timeoutMs: 5_000 });
    await expect(mailer.send({ to: 'a@example.com', subject: 's', text: 't' })).rejects.toThrow();
    expect(sink.received).toHaveLength(0);
    expect(() => createSmtpMailer('http://127.0.0.1:25', 'a@b.c')).toThrow(/smtp:\/\//);
  });
});
