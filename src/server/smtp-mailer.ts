// E-mail over SMTP through nodemailer (a well-kept client: STARTTLS, authentication, pooling, address encoding),
// for servers given --smtp-url-file. The URL's credentials never reach a log: `describe` names only the host.
import { createTransport } from 'nodemailer';
import type { Mailer } from './mailer.js';

export function createSmtpMailer(url: string, from: string, options: { timeoutMs?: number } = {}): Mailer {
  const parsed = new URL(url);
  if (parsed.protocol !== 'smtp:' && parsed.protocol !== 'smtps:') throw new Error(`the SMTP URL must start with smtp:// or smtps://, not ${parsed.protocol}//`);
  const timeout = options.timeoutMs ?? 30_000;
  const secure = parsed.protocol === 'smtps:';
  const transport = createTransport({
    host: parsed.hostname.replace(/^\[(.*)\]$/, '$1'),
    port: Number(parsed.port) || (secure ? 465 : 587),
    secure,
    ...(parsed.username ? { auth: { user: decodeURIComponent(parsed.username), pass: decodeURIComponent(parsed.password) } } : {}),
    connectionTimeout: timeout,
    greetingTimeout: timeout,
    socketTimeout: timeout,
  });
  return {
    describe: `smtp ${parsed.hostname}:${parsed.port || (parsed.protocol === 'smtps:' ? 465 : 587)}`,
    async send(mail) {
      const info = await transport.sendMail({ from, to: mail.to, subject: mail.subject, text: mail.text });
      return { id: String(info.messageId) };
    },
  };
}
